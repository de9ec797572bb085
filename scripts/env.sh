# Sourced by the scripts: module search paths for the in-tree build.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-build/lua5.4}
LUA=${LUA:-lua5.4}
export ALIYUN_LIVE_ROOT=$ROOT
export LUA_PATH="$ROOT/lua/?.lua;$ROOT/lua/?/init.lua;$ROOT/spec/?.lua;;"
export LUA_CPATH="$ROOT/$BUILD/?.so;;"

# Start the emulator in the background with the given arguments; sets EMU_PID and
# EMU_URL. The caller traps EXIT to stop it.
start_emulator() {
    local out
    out=$(mktemp)
    "$ROOT/emulator/run" --port 0 "$@" >"$out" 2>&1 &
    EMU_PID=$!
    for _ in $(seq 1 200); do
        EMU_URL=$(sed -n 's/^listening on \(http[s]*:\/\/[0-9.:]*\)$/\1/p' "$out")
        [ -n "$EMU_URL" ] && { rm -f "$out"; return 0; }
        kill -0 "$EMU_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "emulator did not start:" >&2
    cat "$out" >&2
    rm -f "$out"
    return 1
}

stop_emulator() {
    if [ -n "${EMU_PID:-}" ] && kill -0 "$EMU_PID" 2>/dev/null; then
        kill -TERM "$EMU_PID" 2>/dev/null
        wait "$EMU_PID" 2>/dev/null || true
    fi
    EMU_PID=
}
