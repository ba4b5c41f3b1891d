/* closest.h: "did you mean": the nearest of a few candidate names. One rule
 * for the whole product (the .flow parser, the schema checks, inspect, the
 * parameter setter). Not a fuzzy search. */
#ifndef YT_CLOSEST_H
#define YT_CLOSEST_H

#include <stddef.h>

/* The closest of candidates[] to word (edit distance <= 2 or a third of its
 * length, and not word itself), or NULL. */
const char *yt_closest(const char *word, const char *const *candidates, size_t n);

#endif
