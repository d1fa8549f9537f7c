#!/bin/sh
# Container entry point.
#   no arguments:  apply database migrations, then run the bot (`jejak migrate && jejak run`)
#   arguments:     run that jejak command instead, e.g. `roster import /app/data/roster.xlsx`
set -eu

if [ "$#" -eq 0 ]; then
    jejak migrate
    # exec: the bot becomes PID 1's child directly and receives SIGTERM on `docker stop`
    exec jejak run
fi
exec jejak "$@"
