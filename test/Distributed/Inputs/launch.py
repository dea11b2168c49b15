#!/usr/bin/env python3
"""Runs a script on N local ranks the way torchrun does
(torch.distributed.run: its parser, its LaunchConfig, elastic_launch), on a
free port of 127.0.0.1 so that tests running side by side do not meet on
one rendezvous port: launch.py N script [args...].

Not `torchrun` itself: Debian 12's torch 1.13 with Python 3.11 fails in
torchrun's own argument handling (Std.from_str compares an enum Flag with
an int, which Python 3.11 no longer equates, and returns None for the
default "0"); this sets the stream redirections to Std.NONE, which is what
that default means, and changes nothing else."""
import dataclasses
import os
import socket
import sys

from torch.distributed import run
from torch.distributed.elastic.multiprocessing import Std
from torch.distributed.launcher.api import elastic_launch


def main():
    nproc, script = sys.argv[1], sys.argv[2]
    # What torchrun sets for several ranks on one machine, without its
    # warning in the test's output.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    # Every rank is on this machine: gloo talks over loopback, whatever
    # the host name resolves to (or not) in a CI container.
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = run.get_args_parser().parse_args(
        ["--nproc_per_node", nproc, "--nnodes", "1", "--master_addr",
         "127.0.0.1", "--master_port", str(port), script] + sys.argv[3:])
    config, cmd, cmd_args = run.config_from_args(args)
    if not isinstance(config.redirects, Std):
        config = dataclasses.replace(config, redirects=Std.NONE, tee=Std.NONE)
    elastic_launch(config, cmd)(*cmd_args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
