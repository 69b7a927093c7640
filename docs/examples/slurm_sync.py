"""`ratdcs sync` on a SLURM cluster through dask-jobqueue: a worked example (docs/scale.md).

Run it on a login node (or in a small job) where the manifest sits on a LOCAL disk, with the data
directory on the cluster's parallel file system (Lustre, GPFS, BeeGFS) that every compute node
mounts at the same path:

    pip install 'ratdcs[dask]' dask-jobqueue
    python docs/examples/slurm_sync.py --jobs 8 --config config.yaml

Each SLURM job is one Dask worker process with 4 threads; the sync process here is the
coordinator: it claims rows, sends batches to the workers, and is the only one writing the
manifest. Not run by the tests (it needs a SLURM cluster); adapt queue, account and walltime.
"""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=8, help="SLURM jobs, one Dask worker each")
    parser.add_argument("--config", default="config.yaml", help="ratdcs configuration (data_dir on shared storage)")
    parser.add_argument("--queue", default=None, help="SLURM partition")
    parser.add_argument("--account", default=None, help="SLURM account")
    args = parser.parse_args(argv)

    from dask_jobqueue import SLURMCluster
    from distributed import Client

    import ratdcs_catalog as rc

    cluster = SLURMCluster(
        cores=4,                 # threads of one worker: transfers are I/O, verification is CPU
        processes=1,             # one worker process per job
        memory="4GB",            # a worker streams files to disk; it holds at most a chunk each
        walltime="04:00:00",     # a worker that reaches it dies: its batch goes back to pending
        queue=args.queue,
        account=args.account,
        local_directory="$TMPDIR",          # Dask's scratch on the node, not the shared storage
        job_extra_directives=["--requeue"],
        # The archives must be reachable from the compute nodes (or through the proxy in
        # https_proxy, which the workers inherit); MAST_API_TOKEN too, for proprietary data.
        job_script_prologue=["export https_proxy=${https_proxy:-}"],
    )
    cluster.scale(jobs=args.jobs)
    with Client(cluster) as client:
        client.wait_for_workers(1, timeout=600)  # the queue may keep the others waiting: they join later
        summary = rc.sync(config=args.config, cluster=cluster.scheduler_address, progress=True)
    cluster.close()
    print(f"done {summary.files_done}, adopted {summary.files_adopted}, failed {summary.files_failed}, "
          f"{summary.bytes_received / 1e9:.1f} GB in {summary.elapsed_seconds:.0f} s")
    return summary.exit_code


if __name__ == "__main__":
    sys.exit(main())
