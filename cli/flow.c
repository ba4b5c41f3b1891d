/* flow.c: lexer, parser and schema-free checks of the .flow language (flow.h). */
#include "flow.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ diagnostics */

static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) { fputs("yt8m-flow: out of memory\n", stderr); abort(); }
  return q;
}
#define PUSH(arr, n) ((arr) = xrealloc((arr), ((n) + 1) * sizeof *(arr)), &(arr)[(n)++])

static char *xstrdup(const char *s) {
  char *d = strdup(s ? s : "");
  if (!d) abort();
  return d;
}

static char *vfmt(const char *fmt, va_list ap) {
  char buf[2048];
  vsnprintf(buf, sizeof buf, fmt, ap);
  return xstrdup(buf);
}

void yt_flow_error(yt_flow *f, yt_loc loc, const char *note, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  yt_diag *d = PUSH(f->diags, f->n_diags);
  d->loc = loc;
  d->msg = vfmt(fmt, ap);
  d->note = note ? xstrdup(note) : NULL;
  va_end(ap);
}

static const char *source_line(const yt_flow *f, yt_loc loc, int *len) {
  for (size_t i = 0; i < f->n_files; i++) {
    if (f->files[i].path != loc.file) continue;
    const char *p = f->files[i].text;
    for (int l = 1; l < loc.line && p; l++) {
      p = strchr(p, '\n');
      if (p) p++;
    }
    if (!p) return NULL;
    const char *e = strchr(p, '\n');
    *len = e ? (int)(e - p) : (int)strlen(p);
    return p;
  }
  return NULL;
}

void yt_flow_print_diags(const yt_flow *f, FILE *out) {
  for (size_t i = 0; i < f->n_diags; i++) {
    const yt_diag *d = &f->diags[i];
    if (d->loc.line > 0) fprintf(out, "%s:%d:%d: error: %s\n", d->loc.file, d->loc.line, d->loc.col, d->msg);
    else fprintf(out, "%s: error: %s\n", d->loc.file ? d->loc.file : "yt8m-flow", d->msg);
    int len;
    const char *src = d->loc.line > 0 ? source_line(f, d->loc, &len) : NULL;
    if (src) {
      fprintf(out, " %5d | %.*s\n       | ", d->loc.line, len, src);
      for (int c = 1; c < d->loc.col; c++) fputc(c - 1 < len && src[c - 1] == '\t' ? '\t' : ' ', out);
      fputs("^\n", out);
    }
    if (d->note) fprintf(out, "note: %s\n", d->note);
  }
}

static char *did_you_mean(const char *word, const char *const *cand, size_t n) {
  const char *c = yt_closest(word, cand, n);
  if (!c) return NULL;
  char buf[256];
  snprintf(buf, sizeof buf, "did you mean '%s'?", c);
  return xstrdup(buf);
}

const char *yt_value_kind_name(yt_vkind k) {
  static const char *names[] = {"int", "float", "bool", "string", "list", "duration", "size"};
  return names[k];
}

/* ------------------------------------------------------------------ lexer */

typedef enum { T_EOF, T_IDENT, T_INT, T_FLOAT, T_STRING, T_DURATION, T_SIZE, T_VAR, T_ARROW, T_SYM, T_BAD } tkind;

typedef struct {
  tkind kind;
  char *text; /* IDENT, STRING (raw, escapes resolved, not interpolated), VAR name */
  int64_t i;
  double f;
  char sym;
  yt_loc loc;
} token;

typedef struct parser {
  yt_flow *f;
  const char *path; /* interned in f->files */
  const char *src, *p;
  int line, col;
  token t; /* current */
  const yt_flow_set *sets;
  char **stack; /* include stack, for cycles */
  size_t depth;
  bool set_mode; /* parsing a --set value: no diagnostics */
  bool failed;
} parser;

static void perr(parser *ps, yt_loc loc, const char *note, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void perr(parser *ps, yt_loc loc, const char *note, const char *fmt, ...) {
  ps->failed = true;
  if (ps->set_mode) return;
  va_list ap;
  va_start(ap, fmt);
  char *m = vfmt(fmt, ap);
  va_end(ap);
  yt_flow_error(ps->f, loc, note, "%s", m);
  free(m);
}

static int peekc(parser *ps, int k) {
  for (int i = 0; i < k; i++)
    if (!ps->p[i]) return 0;
  return (unsigned char)ps->p[k];
}
static void adv(parser *ps) {
  if (*ps->p == '\n') { ps->line++; ps->col = 1; }
  else ps->col++;
  ps->p++;
}

static const struct { const char *unit; double mult; int size; } units[] = {
    {"ms", 1e-3, 0}, {"s", 1, 0}, {"min", 60, 0}, {"h", 3600, 0},
    {"B", 1, 1}, {"KiB", 1024.0, 1}, {"MiB", 1048576.0, 1}, {"GiB", 1073741824.0, 1}, {"TiB", 1099511627776.0, 1},
    {"KB", 1e3, 1}, {"MB", 1e6, 1}, {"GB", 1e9, 1}, {"TB", 1e12, 1}};

static void next(parser *ps) {
  free(ps->t.text);
  memset(&ps->t, 0, sizeof ps->t);
  for (;;) { /* whitespace and comments */
    while (*ps->p && isspace((unsigned char)*ps->p)) adv(ps);
    if (*ps->p == '#') { while (*ps->p && *ps->p != '\n') adv(ps); continue; }
    break;
  }
  token *t = &ps->t;
  t->loc = (yt_loc){ps->path, ps->line, ps->col};
  int c = *ps->p;
  if (!c) { t->kind = T_EOF; return; }
  if (c == '-' && peekc(ps, 1) == '>') { adv(ps); adv(ps); t->kind = T_ARROW; return; }
  if (c == '$' && peekc(ps, 1) == '{') {
    adv(ps); adv(ps);
    const char *s = ps->p;
    while (*ps->p && (isalnum((unsigned char)*ps->p) || *ps->p == '_')) adv(ps);
    size_t n = (size_t)(ps->p - s);
    if (*ps->p != '}' || n == 0) {
      perr(ps, t->loc, NULL, "malformed variable reference: expected ${name}");
      t->kind = T_BAD;
      return;
    }
    t->text = strndup(s, n);
    adv(ps);
    t->kind = T_VAR;
    return;
  }
  if (isalpha(c) || c == '_') {
    const char *s = ps->p;
    while (*ps->p && (isalnum((unsigned char)*ps->p) || *ps->p == '_' ||
                      (*ps->p == '-' && peekc(ps, 1) != '>' && isalnum(peekc(ps, 1)))))
      adv(ps);
    t->text = strndup(s, (size_t)(ps->p - s));
    t->kind = T_IDENT;
    return;
  }
  if (isdigit(c) || ((c == '-' || c == '+') && (isdigit(peekc(ps, 1)) || peekc(ps, 1) == '.'))) {
    const char *s = ps->p;
    bool is_float = false;
    if (c == '-' || c == '+') adv(ps);
    while (isdigit((unsigned char)*ps->p)) adv(ps);
    if (*ps->p == '.' && isdigit(peekc(ps, 1))) { is_float = true; adv(ps); while (isdigit((unsigned char)*ps->p)) adv(ps); }
    if ((*ps->p == 'e' || *ps->p == 'E') && (isdigit(peekc(ps, 1)) || ((peekc(ps, 1) == '-' || peekc(ps, 1) == '+') && isdigit(peekc(ps, 2))))) {
      is_float = true;
      adv(ps); adv(ps);
      while (isdigit((unsigned char)*ps->p)) adv(ps);
    }
    char num[64];
    snprintf(num, sizeof num, "%.*s", (int)(ps->p - s), s);
    const char *u = ps->p;
    while (isalpha((unsigned char)*ps->p)) adv(ps);
    size_t ulen = (size_t)(ps->p - u);
    errno = 0;
    if (ulen) {
      for (size_t k = 0; k < sizeof units / sizeof units[0]; k++)
        if (strlen(units[k].unit) == ulen && !strncmp(u, units[k].unit, ulen)) {
          double v = strtod(num, NULL) * units[k].mult;
          if (units[k].size) { t->kind = T_SIZE; t->i = (int64_t)v; }
          else { t->kind = T_DURATION; t->f = v; }
          return;
        }
      perr(ps, t->loc, "durations: ms s min h; sizes: B KiB MiB GiB TiB KB MB GB TB", "unknown unit '%.*s' after %s", (int)ulen, u, num);
      t->kind = T_BAD;
      return;
    }
    if (is_float) { t->kind = T_FLOAT; t->f = strtod(num, NULL); }
    else {
      t->kind = T_INT;
      t->i = strtoll(num, NULL, 10);
      if (errno == ERANGE) perr(ps, t->loc, NULL, "integer %s out of range", num);
    }
    return;
  }
  if (c == '"') {
    adv(ps);
    size_t cap = 64, n = 0;
    char *b = xrealloc(NULL, cap);
    while (*ps->p && *ps->p != '"' && *ps->p != '\n') {
      char ch = *ps->p;
      if (ch == '\\' && ps->p[1]) {
        adv(ps);
        ch = *ps->p == 'n' ? '\n' : *ps->p == 't' ? '\t' : *ps->p;
      }
      if (n + 2 > cap) b = xrealloc(b, cap *= 2);
      b[n++] = ch;
      adv(ps);
    }
    b[n] = 0;
    if (*ps->p != '"') {
      perr(ps, t->loc, NULL, "unterminated string");
      free(b);
      t->kind = T_BAD;
      return;
    }
    adv(ps);
    t->kind = T_STRING;
    t->text = b;
    return;
  }
  if (strchr(":{}=;,[]().", c)) { t->kind = T_SYM; t->sym = (char)c; adv(ps); return; }
  perr(ps, t->loc, NULL, "unexpected character '%c'", c);
  adv(ps);
  t->kind = T_BAD;
}

static bool is_sym(const parser *ps, char c) { return ps->t.kind == T_SYM && ps->t.sym == c; }
static bool is_word(const parser *ps, const char *w) { return ps->t.kind == T_IDENT && !strcmp(ps->t.text, w); }

static const char *tok_desc(const token *t) {
  static char buf[96];
  switch (t->kind) {
  case T_EOF: return "end of file";
  case T_IDENT: snprintf(buf, sizeof buf, "'%s'", t->text); return buf;
  case T_STRING: return "a string";
  case T_VAR: snprintf(buf, sizeof buf, "'${%s}'", t->text); return buf;
  case T_ARROW: return "'->'";
  case T_SYM: snprintf(buf, sizeof buf, "'%c'", t->sym); return buf;
  default: return "a number";
  }
}

static bool expect_sym(parser *ps, char c, const char *what) {
  if (is_sym(ps, c)) { next(ps); return true; }
  perr(ps, ps->t.loc, NULL, "expected '%c' %s, found %s", c, what, tok_desc(&ps->t));
  return false;
}

/* Skips to the start of the next statement after an error. */
static void recover(parser *ps) {
  int depth = 0;
  while (ps->t.kind != T_EOF) {
    if (is_sym(ps, '{')) depth++;
    if (is_sym(ps, '}')) { if (--depth <= 0) { next(ps); return; } }
    if (depth <= 0 && (is_word(ps, "node") || is_word(ps, "let") || is_word(ps, "include") || is_word(ps, "tap"))) return;
    next(ps);
  }
}

/* ----------------------------------------------------------------- values */

static void value_free(yt_value *v) {
  free(v->s);
  for (size_t i = 0; i < v->n; i++) value_free(&v->items[i]);
  free(v->items);
  memset(v, 0, sizeof *v);
}

static yt_value value_copy(const yt_value *v) {
  yt_value c = *v;
  c.s = v->s ? xstrdup(v->s) : NULL;
  c.items = v->n ? xrealloc(NULL, v->n * sizeof *c.items) : NULL;
  for (size_t i = 0; i < v->n; i++) c.items[i] = value_copy(&v->items[i]);
  return c;
}

static yt_let *find_let(yt_flow *f, const char *name) {
  for (size_t i = f->n_lets; i-- > 0;)
    if (!strcmp(f->lets[i].name, name)) return &f->lets[i];
  return NULL;
}

/* "did you mean" over the graph's variables (malloc'd, or NULL). */
static char *let_note(const yt_flow *f, const char *word) {
  const char **names = xrealloc(NULL, (f->n_lets + 1) * sizeof *names);
  for (size_t i = 0; i < f->n_lets; i++) names[i] = f->lets[i].name;
  char *note = did_you_mean(word, names, f->n_lets);
  free(names);
  return note;
}

static void undefined_var(parser *ps, yt_loc loc, const char *name) {
  char *note = let_note(ps->f, name);
  perr(ps, loc, note, "undefined variable '%s'", name);
  free(note);
}

static void value_to_text(const yt_value *v, char *out, size_t cap) {
  switch (v->kind) {
  case YT_V_INT: snprintf(out, cap, "%lld", (long long)v->i); break;
  case YT_V_SIZE: snprintf(out, cap, "%lld", (long long)v->i); break;
  case YT_V_FLOAT: snprintf(out, cap, "%g", v->f); break;
  case YT_V_DURATION: snprintf(out, cap, "%gs", v->f); break;
  case YT_V_BOOL: snprintf(out, cap, "%s", v->b ? "true" : "false"); break;
  case YT_V_STRING: snprintf(out, cap, "%s", v->s); break;
  case YT_V_LIST: {
    size_t used = 0;
    for (size_t i = 0; i < v->n && used < cap; i++) {
      char item[512];
      value_to_text(&v->items[i], item, sizeof item);
      used += (size_t)snprintf(out + used, cap - used, "%s%s", i ? "," : "", item);
    }
    if (!v->n && cap) out[0] = 0;
    break;
  }
  }
}

/* "${var}" inside a string: replaced by the variable's text form. */
static char *interpolate(parser *ps, const char *raw, yt_loc loc) {
  size_t cap = strlen(raw) + 64, n = 0;
  char *out = xrealloc(NULL, cap);
  for (const char *p = raw; *p;) {
    if (p[0] == '$' && p[1] == '{') {
      const char *e = strchr(p, '}');
      if (!e) { perr(ps, loc, NULL, "unterminated ${ in string"); break; }
      char name[128];
      snprintf(name, sizeof name, "%.*s", (int)(e - p - 2), p + 2);
      yt_let *l = find_let(ps->f, name);
      char text[1024] = "";
      if (l) { l->used = true; value_to_text(&l->value, text, sizeof text); }
      else undefined_var(ps, loc, name);
      size_t k = strlen(text);
      while (n + k + 1 > cap) out = xrealloc(out, cap *= 2);
      memcpy(out + n, text, k);
      n += k;
      p = e + 1;
      continue;
    }
    if (n + 2 > cap) out = xrealloc(out, cap *= 2);
    out[n++] = *p++;
  }
  out[n] = 0;
  return out;
}

static bool parse_value(parser *ps, yt_value *v) {
  memset(v, 0, sizeof *v);
  v->loc = ps->t.loc;
  token *t = &ps->t;
  switch (t->kind) {
  case T_INT: v->kind = YT_V_INT; v->i = t->i; next(ps); return true;
  case T_FLOAT: v->kind = YT_V_FLOAT; v->f = t->f; next(ps); return true;
  case T_DURATION: v->kind = YT_V_DURATION; v->f = t->f; next(ps); return true;
  case T_SIZE: v->kind = YT_V_SIZE; v->i = t->i; next(ps); return true;
  case T_STRING: v->kind = YT_V_STRING; v->s = interpolate(ps, t->text, t->loc); next(ps); return true;
  case T_VAR: {
    yt_let *l = find_let(ps->f, t->text);
    if (!l) { undefined_var(ps, t->loc, t->text); next(ps); v->kind = YT_V_STRING; v->s = xstrdup(""); return true; }
    l->used = true;
    *v = value_copy(&l->value);
    v->loc = t->loc;
    next(ps);
    return true;
  }
  case T_IDENT:
    if (is_word(ps, "true") || is_word(ps, "false")) { v->kind = YT_V_BOOL; v->b = is_word(ps, "true"); next(ps); return true; }
    if (is_word(ps, "env")) {
      next(ps);
      if (!expect_sym(ps, '(', "after env")) return false;
      if (ps->t.kind != T_STRING) { perr(ps, ps->t.loc, NULL, "env() takes a variable name as a string, found %s", tok_desc(&ps->t)); return false; }
      const char *val = getenv(ps->t.text);
      yt_loc nloc = ps->t.loc;
      char *name = xstrdup(ps->t.text);
      next(ps);
      yt_value def = {0};
      bool has_def = false;
      if (is_sym(ps, ',')) { next(ps); if (!parse_value(ps, &def)) { free(name); return false; } has_def = true; }
      if (!expect_sym(ps, ')', "to close env(")) { free(name); value_free(&def); return false; }
      if (val) { v->kind = YT_V_STRING; v->s = xstrdup(val); value_free(&def); }
      else if (has_def) { *v = def; }
      else { perr(ps, nloc, "give a default: env(\"NAME\", value)", "environment variable '%s' is not set and has no default", name); v->kind = YT_V_STRING; v->s = xstrdup(""); }
      v->loc = nloc;
      free(name);
      return true;
    }
    /* a bare word is a string (hosts, codecs, model names) */
    v->kind = YT_V_STRING;
    v->s = xstrdup(t->text);
    next(ps);
    return true;
  case T_SYM:
    if (t->sym == '[') {
      next(ps);
      v->kind = YT_V_LIST;
      while (!is_sym(ps, ']')) {
        yt_value item;
        if (ps->t.kind == T_EOF || !parse_value(ps, &item)) {
          perr(ps, v->loc, NULL, "unterminated list");
          value_free(v); /* the items so far: the caller gets no value */
          return false;
        }
        *PUSH(v->items, v->n) = item;
        if (is_sym(ps, ',')) next(ps);
        else if (!is_sym(ps, ']')) {
          perr(ps, ps->t.loc, NULL, "expected ',' or ']' in a list, found %s", tok_desc(&ps->t));
          value_free(v);
          return false;
        }
      }
      next(ps);
      return true;
    }
    /* fallthrough */
  default:
    if (t->kind != T_BAD) perr(ps, t->loc, NULL, "expected a value, found %s", tok_desc(t)); /* else: said */
    return false;
  }
}

/* ------------------------------------------------------------- statements */

static const char *intern_file(yt_flow *f, const char *path, char *text) {
  yt_flow_file *e = PUSH(f->files, f->n_files);
  e->path = xstrdup(path);
  e->text = text;
  return e->path;
}

static char *read_text(const char *path) {
  FILE *fp = fopen(path, "rb");
  if (!fp) return NULL;
  size_t cap = 4096, n = 0;
  char *b = xrealloc(NULL, cap);
  size_t k;
  while ((k = fread(b + n, 1, cap - n - 1, fp)) > 0) {
    n += k;
    if (n + 1 >= cap) b = xrealloc(b, cap *= 2);
  }
  fclose(fp);
  b[n] = 0;
  return b;
}

/* A --set value: the text parsed as a value when it is one, else a string. */
static yt_value set_value(parser *ps, const char *text, yt_loc loc) {
  parser sub = {.f = ps->f, .path = loc.file, .src = text, .p = text, .line = 1, .col = 1, .set_mode = true};
  next(&sub);
  yt_value v;
  /* a bare word is a string (--set model=MoeModel), except true and false */
  bool word = sub.t.kind == T_IDENT && strcmp(sub.t.text, "true") && strcmp(sub.t.text, "false");
  bool ok = !word && parse_value(&sub, &v) && sub.t.kind == T_EOF && !sub.failed;
  if (!ok) {
    if (!word && !sub.failed) value_free(&v);
    memset(&v, 0, sizeof v);
    v.kind = YT_V_STRING;
    v.s = xstrdup(text);
  }
  free(sub.t.text);
  v.loc = loc;
  return v;
}

static const char *find_set(const yt_flow_set *sets, const char *name, size_t *len_out) {
  const char *found = NULL;
  for (size_t i = 0; sets && i < sets->n; i++) {
    const char *eq = strchr(sets->items[i], '=');
    if (eq && (size_t)(eq - sets->items[i]) == strlen(name) && !strncmp(sets->items[i], name, strlen(name))) {
      found = eq + 1; /* the last one wins */
      if (len_out) *len_out = i;
    }
  }
  return found;
}

static void parse_file(parser *ps, const char *path, yt_loc from);

static void parse_let(parser *ps) {
  yt_loc loc = ps->t.loc;
  next(ps);
  if (ps->t.kind != T_IDENT) { perr(ps, ps->t.loc, NULL, "expected a variable name after 'let', found %s", tok_desc(&ps->t)); recover(ps); return; }
  char *name = xstrdup(ps->t.text);
  yt_loc nloc = ps->t.loc;
  next(ps);
  yt_value v;
  if (!expect_sym(ps, '=', "after the variable name") || !parse_value(ps, &v)) { free(name); recover(ps); return; }
  const char *set = find_set(ps->sets, name, NULL);
  if (set) {
    value_free(&v);
    v = set_value(ps, set, (yt_loc){"--set", 0, 0});
  }
  yt_let *old = find_let(ps->f, name);
  if (old) {
    perr(ps, nloc, NULL, "variable '%s' is already defined at %s:%d:%d", name, old->loc.file, old->loc.line, old->loc.col);
    value_free(&v);
    free(name);
    return;
  }
  yt_let *l = PUSH(ps->f->lets, ps->f->n_lets);
  *l = (yt_let){.name = name, .value = v, .loc = loc};
}

static void parse_node(parser *ps) {
  yt_loc loc = ps->t.loc;
  next(ps);
  if (ps->t.kind != T_IDENT) { perr(ps, ps->t.loc, NULL, "expected a node name after 'node', found %s", tok_desc(&ps->t)); recover(ps); return; }
  yt_node_decl n = {.name = xstrdup(ps->t.text), .replicas = 1, .loc = loc};
  next(ps);
  if (!expect_sym(ps, ':', "and a node type after the node name")) goto bad;
  if (ps->t.kind != T_IDENT) { perr(ps, ps->t.loc, NULL, "expected a node type, found %s", tok_desc(&ps->t)); goto bad; }
  n.type = xstrdup(ps->t.text);
  n.type_loc = ps->t.loc;
  next(ps);
  if (ps->t.kind == T_IDENT && ps->t.text[0] == 'x' && ps->t.text[1] && strspn(ps->t.text + 1, "0123456789") == strlen(ps->t.text + 1)) {
    long r = strtol(ps->t.text + 1, NULL, 10);
    if (r < 1 || r > 1024) perr(ps, ps->t.loc, NULL, "replica count %s: must be x1 .. x1024", ps->t.text);
    n.replicas = (int)(r < 1 ? 1 : r > 1024 ? 1024 : r);
    next(ps);
  }
  if (is_word(ps, "on")) {
    next(ps);
    do {
      if (is_sym(ps, ',')) next(ps);
      if (ps->t.kind != T_IDENT && ps->t.kind != T_STRING) {
        perr(ps, ps->t.loc, ps->t.kind == T_INT || ps->t.kind == T_FLOAT ? "quote an address: on \"10.0.0.7\"" : NULL,
             "expected a host name after 'on', found %s", tok_desc(&ps->t));
        goto bad;
      }
      /* a quoted host may name a variable: on "${gpu_host}", set with --set gpu_host=... */
      *PUSH(n.hosts, n.n_hosts) = ps->t.kind == T_STRING ? interpolate(ps, ps->t.text, ps->t.loc) : xstrdup(ps->t.text);
      next(ps);
    } while (is_sym(ps, ','));
  }
  if (!expect_sym(ps, '{', "to open the node's parameters")) goto bad;
  while (!is_sym(ps, '}')) {
    if (ps->t.kind == T_EOF) { perr(ps, loc, NULL, "node '%s': missing '}'", n.name); goto bad; }
    if (is_sym(ps, ';')) { next(ps); continue; }
    if (ps->t.kind != T_IDENT) { perr(ps, ps->t.loc, NULL, "expected a parameter name, found %s", tok_desc(&ps->t)); goto bad; }
    yt_param p = {.name = xstrdup(ps->t.text), .loc = ps->t.loc};
    next(ps);
    if (!expect_sym(ps, '=', "after the parameter name") || !parse_value(ps, &p.value)) { free(p.name); goto bad; }
    for (size_t i = 0; i < n.n_params; i++)
      if (!strcmp(n.params[i].name, p.name))
        perr(ps, p.loc, NULL, "parameter '%s' is set twice in node '%s'", p.name, n.name);
    *PUSH(n.params, n.n_params) = p;
  }
  next(ps);
  for (size_t i = 0; i < ps->f->n_nodes; i++)
    if (!strcmp(ps->f->nodes[i].name, n.name)) {
      char note[512];
      snprintf(note, sizeof note, "'%s' was first defined at %s:%d:%d", n.name, ps->f->nodes[i].loc.file,
               ps->f->nodes[i].loc.line, ps->f->nodes[i].loc.col);
      perr(ps, loc, note, "duplicate node '%s'", n.name);
    }
  *PUSH(ps->f->nodes, ps->f->n_nodes) = n;
  return;
bad:
  *PUSH(ps->f->nodes, ps->f->n_nodes) = n; /* keep it: edges to it are not dangling */
  recover(ps);
}

static bool parse_port(parser *ps, yt_port_ref *r) {
  memset(r, 0, sizeof *r);
  r->loc = ps->t.loc;
  if (ps->t.kind != T_IDENT) { perr(ps, ps->t.loc, NULL, "expected a node name in an edge, found %s", tok_desc(&ps->t)); return false; }
  r->node = xstrdup(ps->t.text);
  next(ps);
  if (is_sym(ps, '.')) {
    next(ps);
    if (ps->t.kind != T_IDENT) { perr(ps, ps->t.loc, NULL, "expected a port name after '.', found %s", tok_desc(&ps->t)); return false; }
    r->port = xstrdup(ps->t.text);
    next(ps);
  }
  return true;
}

static void parse_edges(parser *ps) {
  yt_port_ref prev;
  size_t first = ps->f->n_edges;
  if (!parse_port(ps, &prev)) { free(prev.node); recover(ps); return; }
  if (ps->t.kind != T_ARROW) {
    perr(ps, ps->t.loc, NULL, "expected '->' after '%s' (a statement is node, let, include, tap or an edge)", prev.node);
    free(prev.node); free(prev.port);
    recover(ps);
    return;
  }
  while (ps->t.kind == T_ARROW) {
    yt_loc aloc = ps->t.loc;
    next(ps);
    yt_port_ref to;
    if (!parse_port(ps, &to)) { free(to.node); free(prev.node); free(prev.port); recover(ps); return; }
    /* the edge owns prev and to; the next edge starts from a copy of to */
    *PUSH(ps->f->edges, ps->f->n_edges) = (yt_edge){.from = prev, .to = to, .loc = aloc};
    prev = (yt_port_ref){.node = xstrdup(to.node), .port = to.port ? xstrdup(to.port) : NULL, .loc = to.loc};
  }
  free(prev.node); free(prev.port);
  if (is_sym(ps, '[')) { /* attributes apply to every edge of the chain */
    next(ps);
    while (!is_sym(ps, ']')) {
      if (ps->t.kind != T_IDENT) { perr(ps, ps->t.loc, NULL, "expected an edge attribute (hwm, codec), found %s", tok_desc(&ps->t)); recover(ps); return; }
      char *key = xstrdup(ps->t.text);
      yt_loc kloc = ps->t.loc;
      next(ps);
      yt_value v;
      if (!expect_sym(ps, '=', "after the attribute name") || !parse_value(ps, &v)) { free(key); recover(ps); return; }
      for (size_t i = first; i < ps->f->n_edges; i++) {
        yt_edge *e = &ps->f->edges[i];
        if (!strcmp(key, "hwm")) {
          if (v.kind != YT_V_INT || v.i < 1 || v.i > 1000000) { if (i == first) perr(ps, v.loc, NULL, "hwm must be an int in [1, 1000000] (messages)"); }
          else e->hwm = (int)v.i;
        } else if (!strcmp(key, "codec")) {
          if (v.kind != YT_V_STRING || (strcmp(v.s, "zstd") && strcmp(v.s, "none"))) { if (i == first) perr(ps, v.loc, NULL, "codec must be zstd or none"); }
          else { free(e->codec); e->codec = strcmp(v.s, "none") ? xstrdup(v.s) : NULL; }
        } else if (i == first) {
          static const char *const attrs[] = {"hwm", "codec"};
          char *note = did_you_mean(key, attrs, 2);
          perr(ps, kloc, note, "unknown edge attribute '%s'", key);
          free(note);
        }
      }
      value_free(&v);
      free(key);
      if (is_sym(ps, ',') || is_sym(ps, ';')) next(ps);
      else if (!is_sym(ps, ']')) { perr(ps, ps->t.loc, NULL, "expected ',' or ']' after an edge attribute, found %s", tok_desc(&ps->t)); recover(ps); return; }
    }
    next(ps);
  }
}

static void parse_include(parser *ps) {
  yt_loc loc = ps->t.loc;
  next(ps);
  if (ps->t.kind != T_STRING) { perr(ps, ps->t.loc, NULL, "expected a file name in quotes after 'include', found %s", tok_desc(&ps->t)); recover(ps); return; }
  char path[4096];
  const char *slash = strrchr(ps->path, '/');
  if (ps->t.text[0] == '/' || !slash) snprintf(path, sizeof path, "%s", ps->t.text);
  else snprintf(path, sizeof path, "%.*s/%s", (int)(slash - ps->path), ps->path, ps->t.text);
  next(ps);
  parse_file(ps, path, loc);
}

static void parse_statements(parser *ps) {
  while (ps->t.kind != T_EOF) {
    if (is_word(ps, "let")) parse_let(ps);
    else if (is_word(ps, "node")) parse_node(ps);
    else if (is_word(ps, "include")) parse_include(ps);
    else if (is_word(ps, "tap")) {
      yt_loc loc = ps->t.loc;
      next(ps);
      yt_value v;
      if (!parse_value(ps, &v) || v.kind != YT_V_STRING) { perr(ps, loc, NULL, "tap takes an endpoint string, e.g. tap \"tcp://127.0.0.1:5560\""); recover(ps); continue; }
      free(ps->f->tap);
      ps->f->tap = v.s;
      ps->f->tap_loc = loc;
    } else if (is_word(ps, "flow")) {
      perr(ps, ps->t.loc, NULL, "'flow' header may appear only once, at the top of the main file");
      next(ps); recover(ps);
    } else if (ps->t.kind == T_IDENT) parse_edges(ps);
    else { perr(ps, ps->t.loc, NULL, "expected a statement (node, let, include, tap or an edge), found %s", tok_desc(&ps->t)); next(ps); recover(ps); }
  }
}

static void parse_file(parser *outer, const char *path, yt_loc from) {
  char *real = realpath(path, NULL);
  for (size_t i = 0; real && i < outer->depth; i++)
    if (!strcmp(outer->stack[i], real)) {
      char chain[2048] = "";
      for (size_t k = i; k < outer->depth; k++) {
        strncat(chain, strrchr(outer->stack[k], '/') ? strrchr(outer->stack[k], '/') + 1 : outer->stack[k], sizeof chain - strlen(chain) - 1);
        strncat(chain, " -> ", sizeof chain - strlen(chain) - 1);
      }
      strncat(chain, strrchr(real, '/') + 1, sizeof chain - strlen(chain) - 1);
      perr(outer, from, NULL, "include cycle: %s", chain);
      free(real);
      return;
    }
  char *text = read_text(path);
  if (!text) {
    perr(outer, from, NULL, "cannot read '%s': %s", path, strerror(errno));
    free(real);
    return;
  }
  parser ps = {.f = outer->f, .path = intern_file(outer->f, path, text), .src = text, .p = text, .line = 1, .col = 1,
               .sets = outer->sets, .stack = outer->stack, .depth = outer->depth};
  ps.stack = xrealloc(ps.stack, (ps.depth + 1) * sizeof *ps.stack);
  ps.stack[ps.depth++] = real ? real : xstrdup(path);
  next(&ps);
  parse_statements(&ps);
  free(ps.t.text);
  outer->stack = ps.stack;
  free(outer->stack[--ps.depth]);
  outer->failed |= ps.failed;
}

/* ------------------------------------------------------- whole-graph checks */

static yt_node_decl *find_node(yt_flow *f, const char *name) {
  for (size_t i = 0; i < f->n_nodes; i++)
    if (!strcmp(f->nodes[i].name, name)) return &f->nodes[i];
  return NULL;
}

static void check_edges(yt_flow *f) {
  const char **names = xrealloc(NULL, (f->n_nodes + 1) * sizeof *names);
  for (size_t i = 0; i < f->n_nodes; i++) names[i] = f->nodes[i].name;
  for (size_t i = 0; i < f->n_edges; i++) {
    yt_port_ref *ends[2] = {&f->edges[i].from, &f->edges[i].to};
    for (int k = 0; k < 2; k++) {
      if (find_node(f, ends[k]->node)) continue;
      bool seen = false; /* report each unknown name once per position */
      for (size_t j = 0; j < i && !seen; j++) seen = !strcmp(f->edges[j].to.node, ends[k]->node) && k == 0;
      if (seen) continue;
      char *note = did_you_mean(ends[k]->node, names, f->n_nodes);
      yt_flow_error(f, ends[k]->loc, note, "dangling edge: no node named '%s'", ends[k]->node);
      free(note);
    }
  }
  free(names);
}

/* Depth-first search over nodes; reports the first cycle found. */
static int dfs(yt_flow *f, size_t u, int *color, size_t *stack, size_t depth) {
  color[u] = 1;
  stack[depth] = u;
  for (size_t i = 0; i < f->n_edges; i++) {
    if (strcmp(f->edges[i].from.node, f->nodes[u].name)) continue;
    yt_node_decl *to = find_node(f, f->edges[i].to.node);
    if (!to) continue;
    size_t v = (size_t)(to - f->nodes);
    if (color[v] == 1) {
      char chain[2048] = "";
      size_t k = depth;
      while (stack[k] != v) k--;
      for (; k <= depth; k++) {
        strncat(chain, f->nodes[stack[k]].name, sizeof chain - strlen(chain) - 1);
        strncat(chain, " -> ", sizeof chain - strlen(chain) - 1);
      }
      strncat(chain, f->nodes[v].name, sizeof chain - strlen(chain) - 1);
      yt_flow_error(f, f->edges[i].loc, "a flow graph must be acyclic: data streams from sources to sinks",
                    "cycle in the graph: %s", chain);
      return 1;
    }
    if (color[v] == 0 && dfs(f, v, color, stack, depth + 1)) return 1;
  }
  color[u] = 2;
  return 0;
}

static void check_cycles(yt_flow *f) {
  int *color = calloc(f->n_nodes + 1, sizeof *color);
  size_t *stack = calloc(f->n_nodes + 1, sizeof *stack);
  for (size_t u = 0; u < f->n_nodes; u++)
    if (!color[u] && dfs(f, u, color, stack, 0)) break;
  free(color);
  free(stack);
}

static void apply_node_sets(parser *ps, const yt_flow_set *sets) {
  yt_flow *f = ps->f;
  for (size_t i = 0; sets && i < sets->n; i++) {
    const char *item = sets->items[i], *eq = strchr(item, '=');
    yt_loc loc = {"--set", 0, 0};
    if (!eq || eq == item) { yt_flow_error(f, loc, NULL, "--set '%s': expected NAME=VALUE or NODE.PARAM=VALUE", item); continue; }
    char key[256];
    snprintf(key, sizeof key, "%.*s", (int)(eq - item), item);
    char *dot = strchr(key, '.');
    if (!dot) {
      if (!find_let(f, key)) {
        char *note = let_note(f, key);
        yt_flow_error(f, loc, note, "--set %s: the graph has no 'let %s'", key, key);
        free(note);
      }
      continue;
    }
    *dot = 0;
    yt_node_decl *n = find_node(f, key);
    if (!n) { yt_flow_error(f, loc, NULL, "--set %s.%s: the graph has no node '%s'", key, dot + 1, key); continue; }
    yt_value v = set_value(ps, eq + 1, loc);
    yt_param *p = NULL;
    for (size_t k = 0; k < n->n_params; k++)
      if (!strcmp(n->params[k].name, dot + 1)) p = &n->params[k];
    if (!p) { p = PUSH(n->params, n->n_params); p->name = xstrdup(dot + 1); }
    else value_free(&p->value);
    p->value = v;
    p->loc = loc;
  }
}

int yt_flow_load(yt_flow *f, const char *path, const yt_flow_set *sets) {
  memset(f, 0, sizeof *f);
  char *text = read_text(path);
  if (!text) {
    yt_flow_error(f, (yt_loc){path, 0, 0}, NULL, "cannot read the graph: %s", strerror(errno));
    return (int)f->n_diags;
  }
  parser ps = {.f = f, .path = intern_file(f, path, text), .src = text, .p = text, .line = 1, .col = 1, .sets = sets};
  ps.stack = xrealloc(NULL, sizeof *ps.stack);
  char *real = realpath(path, NULL);
  ps.stack[ps.depth++] = real ? real : xstrdup(path);
  next(&ps);
  if (!is_word(&ps, "flow")) {
    perr(&ps, ps.t.loc, "a graph file starts with: flow NAME v1", "missing 'flow NAME v1' header");
  } else {
    next(&ps);
    if (ps.t.kind != T_IDENT) perr(&ps, ps.t.loc, NULL, "expected the flow's name after 'flow', found %s", tok_desc(&ps.t));
    else { f->name = xstrdup(ps.t.text); next(&ps); }
    if (!is_word(&ps, "v1")) perr(&ps, ps.t.loc, NULL, "unsupported flow version %s (this yt8m-flow reads v1)", tok_desc(&ps.t));
    if (ps.t.kind == T_IDENT) next(&ps);
  }
  parse_statements(&ps);
  free(ps.t.text);
  free(ps.stack[0]);
  free(ps.stack);
  apply_node_sets(&ps, sets);
  check_edges(f);
  check_cycles(f);
  return (int)f->n_diags;
}

static void node_free(yt_node_decl *n) {
  free(n->name);
  free(n->type);
  for (size_t i = 0; i < n->n_hosts; i++) free(n->hosts[i]);
  free(n->hosts);
  for (size_t i = 0; i < n->n_params; i++) { free(n->params[i].name); value_free(&n->params[i].value); }
  free(n->params);
}

void yt_flow_free(yt_flow *f) {
  for (size_t i = 0; i < f->n_nodes; i++) node_free(&f->nodes[i]);
  free(f->nodes);
  for (size_t i = 0; i < f->n_edges; i++) {
    free(f->edges[i].from.node); free(f->edges[i].from.port);
    free(f->edges[i].to.node); free(f->edges[i].to.port);
    free(f->edges[i].codec);
  }
  free(f->edges);
  for (size_t i = 0; i < f->n_lets; i++) { free(f->lets[i].name); value_free(&f->lets[i].value); }
  free(f->lets);
  for (size_t i = 0; i < f->n_diags; i++) { free(f->diags[i].msg); free(f->diags[i].note); }
  free(f->diags);
  for (size_t i = 0; i < f->n_files; i++) { free(f->files[i].path); free(f->files[i].text); }
  free(f->files);
  free(f->name);
  free(f->tap);
  memset(f, 0, sizeof *f);
}
