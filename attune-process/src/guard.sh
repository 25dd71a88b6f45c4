# attune-process guard: kills what an owner left when the owner's process dies.
# $1: "cgroup" (then $2 is the owner's cgroup directory) or "group" (then $2 is the owner's
# token: runs carry ATTUNE_RUN_TOKEN=<token>-<n>). Standard input is a pipe that only the
# owner's process holds: "+<pgid>" and "-<pgid>" lines register and unregister the process
# groups of runs, "bye" ends a clean shutdown. End of input without "bye" means the owner's
# process died: kill everything of it that is still registered.
trap '' INT TERM HUP PIPE
groups=" "
while IFS= read -r line; do
    case "$line" in
        bye) exit 0 ;;
        +*) groups="$groups${line#+} " ;;
        -*)
            p=" ${line#-} "
            case "$groups" in
                *"$p"*) groups="${groups%%"$p"*} ${groups#*"$p"}" ;;
            esac
            ;;
    esac
done
nap() { sleep 0.1 2>/dev/null || sleep 1; }
if [ "$1" = cgroup ]; then
    d=$2
    i=0
    while [ -d "$d" ] && [ "$i" -lt 100 ]; do
        if [ -e "$d/cgroup.kill" ]; then
            echo 1 > "$d/cgroup.kill"
        else
            for f in "$d"/*/cgroup.procs; do
                [ -e "$f" ] || continue
                while read -r p; do kill -9 "$p" 2>/dev/null; done < "$f"
            done
        fi
        for r in "$d"/*/; do
            [ -d "$r" ] && rmdir "$r" 2>/dev/null
        done
        rmdir "$d" 2>/dev/null && break
        nap
        i=$((i + 1))
    done
else
    for g in $groups; do kill -9 "-$g" 2>/dev/null; done
    # Descendants that left their group still carry the token (unless they cleared it).
    i=0
    while [ "$i" -lt 10 ]; do
        found=$(grep -laF "ATTUNE_RUN_TOKEN=$2-" /proc/[0-9]*/environ 2>/dev/null)
        [ -n "$found" ] || break
        for f in $found; do
            p=${f#/proc/}
            kill -9 "${p%/environ}" 2>/dev/null
        done
        nap
        i=$((i + 1))
    done
fi
