#!/bin/bash
# test_hosts.sh: `on HOST` placement. Replicas placed on other hosts start
# through $YT_FLOW_SSH and talk tcp://; here a stand-in for ssh runs the remote
# command on this machine (as sshd would, through sh -c, in a new process), and
# the "hosts" are loopback addresses 127.0.0.2 and 127.0.0.3, so every byte
# that crosses "machines" really goes through tcp sockets and the plan really
# arrives on stdin. Checks: byte-identical copy with the writer remote; a frame
# pipeline spread over three hosts with exact accounting; which replicas were
# started where; a remote node's error relayed by name; an ssh that cannot log
# in; a remote replica killed with -9; a port already taken; nothing left
# running.
TEST=test_hosts
. "$(dirname "$0")/lib.sh"
SHARED=${YT_SHARED:-$(cd "$(dirname "$0")/../../.." && pwd)/shared}
[ -d "$SHARED/data" ] || { echo "$TEST: skipped: no $SHARED/data"; exit 77; }

# ports of our own: ctest may run another test's graphs at the same time
PORT=$((30000 + ($$ % 500) * 20))

cat >"$W/fake_ssh" <<EOF
#!/bin/sh
# fake ssh: [-o OPTION]... HOST COMMAND, run here as sshd would run it
while [ \$# -gt 2 ]; do shift; done
echo "\$\$ \$1 \$2" >>"$W/ssh.log"
case \$1 in unreachable*) echo "ssh: Could not resolve hostname \$1: Name or service not known" >&2; exit 255 ;; esac
exec sh -c "\$2"
EOF
chmod +x "$W/fake_ssh"
export YT_FLOW_SSH="$W/fake_ssh -o BatchMode=yes"
hrun() { run --advertise 127.0.0.1 --port-base "$PORT" "$@"; }
# remote replicas are not under $RUNTMP: the fake ssh logged their pids
remote_alive() { local p; for p in $(awk '{print $1}' "$W/ssh.log" 2>/dev/null); do kill -0 "$p" 2>/dev/null && echo "$p"; done; }

# 1. copy with the writer on another host: shards byte-identical
cat >"$W/copy.flow" <<EOF
flow copy_remote v1
let input_data_pattern = "x"
let output_dir = "x"
let writer_host = "127.0.0.2"
node read  : tfrecord_reader { pattern = "\${input_data_pattern}" }
node write : tfrecord_writer on "\${writer_host}" { output_dir = "\${output_dir}"; preserve_shards = true }
read -> write
EOF
cmd "check accepts on \"\${writer_host}\"" 0 "$W/check.out" check "$W/copy.flow"
hrun "$W/copy.flow" --set input_data_pattern="$SHARED/data/*.tfrecord" --set output_dir="$W/copy_out" \
    --summary "$W/copy.json" 2>"$W/copy.err"
expect "copy with a remote writer: exit 0" [ $? -eq 0 ]
summary_ok "copy with a remote writer" "$W/copy.json"
same=1
for f in "$SHARED"/data/*.tfrecord; do cmp -s "$f" "$W/copy_out/$(basename "$f")" || same=0; done
expect "copy with a remote writer: every shard byte-identical" [ "$same" -eq 1 ]
expect "the writer was started over ssh on 127.0.0.2, reading its plan from stdin" \
    grep -q "127.0.0.2 cd .* node - 'write' 0" "$W/ssh.log"
expect "the local reader was not started over ssh" [ "$(grep -c "'read'" "$W/ssh.log")" -eq 0 ]

# 2. frames over three hosts: source on .2, dequantize x2 on .3 and here, sink on .2
cat >"$W/frames.flow" <<'EOF'
flow frames_remote v1
node src   : synth_source on "127.0.0.2" { videos = 600; level = frame; min_frames = 5; max_frames = 40; classes = 50 }
node deq   : dequantize x2 on "127.0.0.3", local { max_frames = 40 }
node batch : batcher { batch_size = 16 }
node sink  : null_sink on "127.0.0.2" { }
src -> deq -> batch -> sink
EOF
: >"$W/ssh.log"
hrun "$W/frames.flow" --summary "$W/frames.json" 2>"$W/frames.err"
expect "frames over three hosts: exit 0" [ $? -eq 0 ]
summary_ok "frames over three hosts" "$W/frames.json"
v=$(json "$W/frames.json" 's["nodes"]["sink"]["in"]')
expect "frames over three hosts: the sink took all 600 videos ($v)" [ "$v" = 600 ]
expect "started over ssh: src on .2, deq[0] on .3, sink on .2, nothing else" \
    [ "$(awk '{print $2}' "$W/ssh.log" | sort | tr '\n' ' ')" = "127.0.0.2 127.0.0.2 127.0.0.3 " ]
expect "deq[1] stays local" [ "$(grep -c "'deq' 1" "$W/ssh.log")" -eq 0 ]
expect "no remote replica left running" [ -z "$(remote_alive)" ]

# 3. a remote node fails: its message comes back under its name
cat >"$W/fail.flow" <<'EOF'
flow fail_remote v1
node read : tfrecord_reader on "127.0.0.2" { pattern = "/nonexistent/yt_hosts/*.tfrecord" }
node sink : null_sink { }
read -> sink
EOF
: >"$W/ssh.log"
runs "a remote node's error" 1 "$W/fail.err" --advertise 127.0.0.1 --port-base "$PORT" "$W/fail.flow"
expect "a remote node's error names it: ERROR: from node read[0] (tfrecord_reader)" \
    has "$W/fail.err" "ERROR: from node read\[0\] \(tfrecord_reader\): .*nonexistent"
expect "no remote replica left running after a failure" [ -z "$(remote_alive)" ]

# 4. ssh cannot log in
sed 's/on "127.0.0.2"/on "unreachable.invalid"/' "$W/fail.flow" >"$W/unreach.flow"
runs "a host ssh cannot reach" 1 "$W/unreach.err" --advertise 127.0.0.1 --port-base "$PORT" "$W/unreach.flow"
expect "it says which node could not start where, and what ssh said" \
    has "$W/unreach.err" "ERROR: from node read\[0\] \(tfrecord_reader\): could not start on host 'unreachable.invalid': .* exited with status 255"
expect "ssh's own message is shown" has "$W/unreach.err" "Could not resolve hostname unreachable.invalid"
expect "no local replica left running" [ -z "$(ours)" ]

# 5. a remote replica killed with -9 mid-run: the run fails naming it, promptly, nothing hangs
cat >"$W/kill.flow" <<'EOF'
flow kill_remote v1
node src  : synth_source on "127.0.0.2" { videos = 0; level = video; classes = 20 }
node sink : null_sink { }
src -> sink
EOF
: >"$W/ssh.log"
hrun "$W/kill.flow" 2>"$W/kill.err" &
rp=$!
for _ in $(seq 100); do [ -s "$W/ssh.log" ] && break; sleep 0.1; done
sleep 1
victim=$(awk '$2 == "127.0.0.2" {print $1}' "$W/ssh.log" | head -n 1)
[ -n "$victim" ] && kill -KILL "$victim"
wait $rp
rc=$?
expect "kill -9 of a remote replica: exit 1" [ "$rc" -eq 1 ]
expect "kill -9 of a remote replica: the error names src[0]" has "$W/kill.err" "ERROR: from node src\[0\] \(synth_source\)"
expect "no local replica left running after the kill" [ -z "$(ours)" ]

# 6. a port already taken: a clear error that says what to do
"$YT_PYTHON" -c "
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', $PORT + 1)); s.listen(1); open(sys.argv[1], 'w').close(); time.sleep(60)" "$W/held" &
holder=$!
for _ in $(seq 100); do [ -e "$W/held" ] && break; sleep 0.1; done
runs "a port already taken" 1 "$W/port.err" --advertise 127.0.0.1 --port-base "$PORT" "$W/copy.flow" \
    --set input_data_pattern="$SHARED/data/*.tfrecord" --set output_dir="$W/copy_out2"
expect "it names the port and says --port-base" has "$W/port.err" "tcp://\*:$((PORT + 1)).*--port-base"
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
expect "nothing left running at the end" [ -z "$(remote_alive)$(ours)" ]

# 7. real ssh: a private sshd on 127.0.0.1 (its keys in $W, nothing in ~/.ssh),
# where this machine has one and we are root (setup.sh --test installs it)
SSHD=/usr/sbin/sshd
if [ ! -x "$SSHD" ] || [ "$(id -u)" -ne 0 ] || ! command -v ssh >/dev/null || ! command -v ssh-keygen >/dev/null; then
    echo "note: real-ssh checks not run (they need root, ssh, ssh-keygen and $SSHD)"
    finish
    exit
fi
SPORT=$((PORT + 19))
ssh-keygen -q -t ed25519 -N '' -f "$W/hostkey" && ssh-keygen -q -t ed25519 -N '' -f "$W/userkey"
cp "$W/userkey.pub" "$W/authorized_keys"
mkdir -p /run/sshd
cat >"$W/sshd_config" <<CONF
Port $SPORT
ListenAddress 127.0.0.1
HostKey $W/hostkey
AuthorizedKeysFile $W/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
UsePAM no
PidFile $W/sshd.pid
CONF
"$SSHD" -f "$W/sshd_config" -E "$W/sshd.log"
# on the way out, also whatever a failed check left: an ssh client still up
# holds ctest's output pipe, and ctest would wait for it for ever
trap 'pkill -KILL -f -- "-i $W/userkey" 2>/dev/null; pkill -KILL -f "^$YT_BIN node - " 2>/dev/null
      kill "$(cat "$W/sshd.pid" 2>/dev/null)" 2>/dev/null; cleanup' EXIT
export YT_FLOW_SSH="ssh -p $SPORT -i $W/userkey -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes"
up=0
for _ in $(seq 50); do $YT_FLOW_SSH 127.0.0.1 true 2>/dev/null && { up=1; break; }; sleep 0.2; done
expect "a private sshd takes our key" [ "$up" -eq 1 ]
real_alive() { pgrep -f "^$YT_BIN node - "; } # what sshd started, whoever its parent is now
sed 's/127\.0\.0\.[23]/127.0.0.1/g' "$W/frames.flow" >"$W/frames_ssh.flow"
hrun "$W/frames_ssh.flow" --summary "$W/frames_ssh.json" 2>"$W/frames_ssh.err"
expect "over real ssh: a frame pipeline over two 'hosts': exit 0" [ $? -eq 0 ]
summary_ok "over real ssh" "$W/frames_ssh.json"
sed 's/127\.0\.0\.2/127.0.0.1/' "$W/kill.flow" >"$W/kill_ssh.flow"
# kill -9 of the remote process itself (not the ssh client): ssh reports 255
# (on a loaded machine the kill may come before the replica's READY: then it "could not start")
hrun "$W/kill_ssh.flow" 2>"$W/kill_ssh.err" &
rp=$!
victim=
for _ in $(seq 100); do victim=$(pgrep -f "^$YT_BIN node - src 0"); [ -n "$victim" ] && break; sleep 0.1; done
sleep 0.5
[ -n "$victim" ] && kill -KILL $victim
wait $rp
expect "over real ssh: kill -9 of the remote replica fails the run naming it" \
    has "$W/kill_ssh.err" "ERROR: from node src\[0\] \(synth_source\): (exited with status 255 on host 127.0.0.1|could not start on host '127.0.0.1')"
# Ctrl-C drains through ssh: the remote source stops, the accounting is exact
hrun "$W/kill_ssh.flow" --summary "$W/drain_ssh.json" 2>"$W/drain_ssh.err" &
rp=$!
for _ in $(seq 100); do [ -n "$(pgrep -f "^$YT_BIN node - src 0")" ] && break; sleep 0.1; done
sleep 1
kill -INT $(pgrep -f "^$YT_BIN run .*kill_ssh.flow") # the launcher, not the timeout around it
wait $rp
expect "over real ssh: Ctrl-C drains: exit 0" [ $? -eq 0 ]
summary_ok "over real ssh: drained" "$W/drain_ssh.json"
# the launcher killed -9: ssh's stdin closes, the remote replicas see their control pipe end
hrun "$W/kill_ssh.flow" 2>/dev/null &
rp=$!
for _ in $(seq 100); do [ -n "$(pgrep -f "^$YT_BIN node - src 0")" ] && break; sleep 0.1; done
kill -KILL $(pgrep -f "^$YT_BIN run .*kill_ssh.flow")
wait $rp 2>/dev/null
for _ in $(seq 100); do [ -z "$(real_alive)" ] && break; sleep 0.1; done
expect "over real ssh: with the launcher killed -9, the remote replicas exit" [ -z "$(real_alive)" ]
finish
