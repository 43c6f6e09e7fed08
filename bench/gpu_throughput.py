"""Bench 4 (needs a CUDA GPU): molecules/s for 100,000 molecules, a batch-size sweep, peak memory.

    python bench/gpu_throughput.py [--model M] [--n 100000] [--compiled M.nequip.pt2]

Molecules: QM9 SMILES embedded once on the CPU (cached to runs/bench_qm9_molecules.pkl is
not done: the set is rebuilt each run; use --n to size it).  Times the library path
(neighbour lists on the CPU, forward on the GPU, pair tables) and the bare forward per
batch size, and prints torch.cuda.max_memory_allocated.  Target on an H100: ≥ 10,000
small molecules/s with the main model.  On a machine without CUDA it says so and exits 0.
"""

import argparse
import time

from _common import default_model

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--batch-atoms", type=int, nargs="+", default=[4096, 16384, 65536])
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("# gpu_throughput: no CUDA device here; nothing measured")
        return
    from nequip.data import AtomicDataDict

    from e3d import edge_energies, load_model
    from e3d.edges import molecules_to_data, pack_batches
    from e3d.pairs import pairs_for_molecules
    from throughput import qm9_molecules

    model = load_model(args.model or default_model(), device="cuda")
    mols = qm9_molecules(args.n)
    print(f"# gpu_throughput: {torch.cuda.get_device_name(0)}; model {model.name}; {len(mols)} molecules")
    print(f"{'batch atoms':>11} {'E3D mol/s':>10} {'forward mol/s':>14} {'peak GiB':>9}")
    for batch_atoms in args.batch_atoms:
        torch.cuda.reset_peak_memory_stats()
        groups = list(pack_batches(mols, batch_atoms))
        batches = [AtomicDataDict.to_(molecules_to_data([mols[k] for k in g], model), model.device) for g in groups]
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.no_grad(), model.energy_only():
            for b in batches:
                model.module(b)
        torch.cuda.synchronize()
        t_fwd = time.perf_counter() - t0
        t0 = time.perf_counter()
        pairs_for_molecules(edge_energies(model, mols, max_batch_atoms=batch_atoms))
        torch.cuda.synchronize()
        t_e3d = time.perf_counter() - t0
        print(f"{batch_atoms:11d} {len(mols) / t_e3d:10.0f} {len(mols) / t_fwd:14.0f} "
              f"{torch.cuda.max_memory_allocated() / 2**30:9.2f}")


if __name__ == "__main__":
    main()
