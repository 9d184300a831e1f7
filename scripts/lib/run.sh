# Shell helpers shared by scripts/demo.sh and scripts/soak.sh (sourced, not run).
#
# The caller sets `work` (a temp dir for logs and files) and an array `pids` before using
# `start`; `stop_all` stops every program started (each drains on SIGTERM).

# Starts a program in the background, its output in $work/NAME.log; its pid is appended to
# `pids` and left in `last_pid`.
start() {
    local name=$1
    shift
    "$@" >"$work/$name.log" 2>&1 &
    last_pid=$!
    pids+=("$last_pid")
}

# SIGTERM to every program started, then waits for each.
stop_all() {
    local pid
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    pids=()
}

# Waits (bounded: 10 s) until something accepts TCP connections on 127.0.0.1:$1.
wait_port() {
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "nothing listens on 127.0.0.1:$1; logs in $work:" >&2
    tail -n 5 "$work"/*.log >&2
    return 1
}

# A self-signed end-entity certificate for localhost and 127.0.0.1, valid $3 days (default 1),
# ECDSA P-256: the key in $1, the certificate in $2.
make_cert() {
    openssl req -x509 -nodes -days "${3:-1}" -subj /CN=localhost \
        -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -addext "basicConstraints=critical,CA:FALSE" \
        -keyout "$1" -out "$2" 2>/dev/null
}

# Writes chain key files for hops 1..$2 into directory $1: hopN.keys (`N HEX`, for hop N) and
# client.keys (every line, for the access point); all mode 600.
make_hop_keys() {
    local dir=$1 n=$2 i key
    : >"$dir/client.keys"
    for i in $(seq 1 "$n"); do
        key=$(openssl rand -hex 32)
        printf '%s %s\n' "$i" "$key" >"$dir/hop$i.keys"
        printf '%s %s\n' "$i" "$key" >>"$dir/client.keys"
    done
    chmod 600 "$dir"/*.keys
}

# Prints the value of the first metric line starting with $2 on the admin endpoint
# 127.0.0.1:$1 (empty when there is none or the endpoint does not answer); never fails.
metric() {
    { curl -s --max-time 5 "http://127.0.0.1:$1/metrics" || true; } |
        awk -v m="$2" 'index($0, m) == 1 { print $NF; exit }'
}
