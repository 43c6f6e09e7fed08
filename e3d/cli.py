"""Command line: ``python -m e3d COMMAND`` (run ``python -m e3d -h`` for the list).

Every command reports bad input as one line ``error: ...`` on stderr and exits with
status 2; it never prints a traceback for a user's mistake.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import List, Optional

from .errors import DEFAULT_MAX_ATOMS, E3DError, InputError, TooLargeError

EXIT_USER_ERROR = 2


def write_table(df, path: str) -> None:
    """Write a DataFrame by extension: .csv, .parquet or .json (records)."""
    ext = os.path.splitext(path.lower())[1]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if ext == ".csv":
        df.to_csv(path, index=False)
    elif ext == ".parquet":
        df.to_parquet(path, index=False)
    elif ext == ".json":
        df.to_json(path, orient="records", indent=1)
    else:
        raise InputError(f"unsupported output type {ext or '(none)'} for {path}; use .csv, .parquet or .json")


def _progress(total: int, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="mol", disable=total < 2 or not sys.stderr.isatty())


def _model_line(model) -> str:
    from .cards import pretraining

    card = model.card
    parts = [model.name]
    if card.get("dataset"):
        parts.append(f"trained on {card['dataset']}")
    if card.get("level_of_theory"):
        parts.append(f"labels {card['level_of_theory']}")
    parts.append(pretraining(card))
    return ", ".join(filter(None, parts))


def cmd_bonds(args) -> int:
    from .bde import HOLE_EV, MODEL_HOLE, minimum_problem
    from .calculator import relax_many_with_model
    from .edges import edge_energies
    from .geometry import graph_changes
    from .model import load_model
    from .molecule import charge_note, load_input, validate
    from .pairs import bonds_weakest_first, pairs_for_molecules, part_headers, with_seed_sd
    from .references import xtb_relaxed

    model = load_model(args.model, device=args.device, dtype=args.dtype)
    mols = load_input(args.input, charge=args.charge, multiplicity=args.multiplicity, max_atoms=args.max_atoms)
    for m in mols:  # every check before any model call (a relaxation would meet an unknown element first)
        validate(m, model.usable_type_names, args.max_atoms)
        if charge_note(m.label, m.charge):
            print(f"warning: {charge_note(m.label, m.charge)}", file=sys.stderr)
    if args.relax:
        relaxed = relax_many_with_model(mols, model)
        for start, m in zip(mols, relaxed):
            changed = graph_changes(m)
            shown = "the model's minimum is not this molecule; its edge energies are shown at that geometry"
            if changed:
                pairs = ", ".join(f"{m.symbols[i]}{i + 1}–{m.symbols[j]}{j + 1}" for i, j in changed[:3])
                print(f"warning: {m.label}: relaxing with the model changed its bonds ({pairs}): {shown}",
                      file=sys.stderr)
                continue
            try:
                hole = minimum_problem(model, m, xtb_relaxed(start)) == MODEL_HOLE
            except E3DError as exc:  # the check needs GFN2-xTB; the table does not
                print(f"warning: {m.label}: not checked for a hole in the model's surface ({exc})", file=sys.stderr)
                continue
            if hole:
                print(f"warning: {m.label}: relaxing with the model went more than {HOLE_EV} eV below the model's "
                      f"energy at the GFN2-xTB minimum, into a hole in its energy surface: {shown}", file=sys.stderr)
        mols = relaxed
    bar = _progress(len(mols), "edge energies")
    results = edge_energies(model, mols, max_atoms=args.max_atoms, progress=bar.update,
                            tolerance="auto" if args.tolerance is None else None if args.tolerance < 0
                            else args.tolerance)
    bar.close()
    for r in results:
        note = model.extrapolation_note(r.molecule.n_heavy_atoms, r.molecule.label)
        if note:
            print(f"warning: {note}", file=sys.stderr)
    table = pairs_for_molecules(results, bonded_only=args.bonded_only)
    table = with_seed_sd(table, model)  # a sum of models carries each part's D_ij; a seed mean also their σ
    if args.output:
        write_table(table, args.output)
        worst = max(abs(r.residual) for r in results)
        print(f"wrote {len(table)} pairs of {len(results)} molecule(s) to {args.output} "
              f"(model: {_model_line(model)}; max sum-rule residual {worst:.1e} eV)")
        return 0
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_rows", 500):
        for k, r in enumerate(results):
            bonds = bonds_weakest_first(table[table["molecule_id"] == k])
            print(f"# {r.molecule.label}  ({r.molecule.smiles}, {r.molecule.n_atoms} atoms, "
                  f"charge {r.molecule.charge}, multiplicity {r.molecule.multiplicity})")
            print(f"# model: {_model_line(model)}")
            print(f"# E_total = {r.total_energy:.6f} eV; sum rule E_total − (Σe + Σμ) = {r.residual:.1e} eV")
            if bonds.empty:
                print("(no bonds in this molecule)\n")
                continue
            parts = part_headers(table)  # a sum's parts, a seed mean's seeds
            cols = ["bond", "D_ij", *parts, "eps_ij", "distance", "bond_type", "bond_label", "i", "j"]
            print(bonds[cols].rename(columns={  # the app's headers; i, j are 0-based, as in the output files
                "D_ij": "D_ij (kcal/mol)", "eps_ij": "ε_ij (eV)", "distance": "r (Å)", "bond_type": "type",
                "bond_label": "type (hybridisation)", **parts})
                .to_string(index=False, float_format="%.3f"))
            print()
    return 0


def cmd_info(args) -> int:
    from .model import load_model

    if args.all:
        from .family import read_index

        index = read_index()
        if args.json:
            print(json.dumps(index, indent=1))
            return 0
        import pandas as pd

        print(f"main model: {index['main']}")
        tests = {"per_atom_energy_mae": "test E MAE (meV/atom)", "forces_mae": "test F MAE (meV/Å)"}
        rows = [{"model": m["id"], "role": m.get("role") or "", "labels": m.get("level_of_theory") or "?",
                 "training set": m.get("dataset") or "?", "frames": m.get("n_training_frames") or "?",
                 **{label: (f"{1000 * m['test'][k]:.0f}" if k in m.get("test", {}) else "–")
                    for k, label in tests.items()}} for m in index["models"]]
        table = pd.DataFrame(rows)
        left = {c: f"{{:<{table[c].astype(str).str.len().max()}}}".format for c in ("model", "role", "labels", "training set")}
        print(table.to_string(index=False, formatters=left, justify="left"))
        print("(test: the model's own held-out frames; `python -m e3d info --model precomputed/models/FILE` "
              "for a full card; FILE is ID.nequip.zip, or ID.sum.json for a sum of models)")
        return 0

    model = load_model(args.model, device=args.device, dtype=args.dtype)
    info = model.info()
    if args.json:
        print(json.dumps(info, indent=1, default=str))
        return 0
    card = info.pop("card")
    for key, value in info.items():
        print(f"{key:20s} {value}")
    if card:
        print("model card:")
        for key, value in card.items():
            print(f"  {key:22s} {value}")
    else:
        print("model card:          none (provenance unknown: dataset and atom references not recorded)")
    return 0


def cmd_data(args) -> int:
    from .data.build import build_dataset, corpus_items, dft_labeller, xtb_labeller

    if args.on and args.labeller not in ("delta", "minima"):
        raise E3DError(f"--on MODEL is for `data delta` (residual Δ-labels) and `data minima`, "
                       f"not `data {args.labeller}`")
    if args.labeller == "atct":
        from .data.atct import build_reference_table
        from .corpus import BDE_REFERENCE, EXP_BDE_TABLE

        out = args.out or BDE_REFERENCE
        table = build_reference_table(EXP_BDE_TABLE, out)
        n_atct = int(table["source"].str.startswith("ATcT 1.112").sum())
        print(f"wrote {len(table)} BDE rows to {out} ({n_atct} derived from ATcT)")
        return 0
    if args.labeller == "spice":
        from .data.spice import convert

        if not args.input:
            raise E3DError("data spice needs --input SPICE.hdf5")
        out = args.out or os.path.join("runs", "data", "spice", "spice.extxyz")
        prov = convert(args.input, out, subsets=args.subset, elements=args.elements, max_atoms=args.max_atoms)
        print(f"wrote {prov['n_frames']} conformations of {prov['n_molecules']} molecules to {out}; "
              f"isolated atoms (eV) {prov['isolated_atom_energies_eV']}")
        return 0
    if args.labeller == "delta":
        from .data.delta import build_delta

        if not args.input:
            raise E3DError("data delta needs --input SET.extxyz (a labelled set with its provenance JSON)")
        out = args.out or os.path.join("runs", "data", f"delta_{os.path.basename(args.input).removesuffix('.extxyz')}.extxyz")
        prov = build_delta(args.input, out, progress=sys.stderr.isatty(), on_model=args.on)
        print(f"wrote {prov['n_frames']} frames with {prov['labels']['method']} labels to {out}; "
              f"provenance in {out}.json; {len(prov['failures'])} failure(s)")
        return 0
    if args.labeller == "minima":
        from .data.model_minima import build_model_minima

        if not args.input or not args.on:
            raise E3DError("data minima needs --input SET.extxyz (a GFN2-xTB set with its provenance JSON) "
                           "and --on MODEL")
        out = args.out or args.input.removesuffix(".extxyz") + "_minima.extxyz"
        prov = build_model_minima(args.input, args.on, out, progress=sys.stderr.isatty(), workers=args.workers)
        print(f"wrote {prov['n_frames']} frames at {prov['settings']['relaxed_with']}'s minima of {args.input}'s "
              f"species to {out}; provenance in {out}.json; {len(prov['failures'])} failure(s)")
        return 0
    if args.labeller == "qm9":
        from .data.qm9 import SCALING_SIZES, build_qm9_datasets

        sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else SCALING_SIZES
        out = args.out or os.path.join("runs", "data", "qm9")
        prov = build_qm9_datasets(out, sizes=sizes, target=args.target, limit=args.limit)
        print(f"wrote QM9 {args.target} test set ({prov['n_test']} molecules) and nested training sets "
              f"{prov['nested_sizes']} to {out}")
        return 0

    corpus = corpus_items(args.corpus)
    if args.limit:
        corpus = corpus[: args.limit]
    corpus_name = args.corpus.replace(":", "").replace("+", "_") if ".smi" not in args.corpus else "custom"
    out = args.out or os.path.join("runs", "data", f"{args.labeller}_{args.variant}_{corpus_name}.extxyz")
    labeller = dft_labeller(args.level) if args.labeller == "dft" else xtb_labeller()
    prov = build_dataset(corpus, out, labeller, variant=args.variant, seed=args.seed, n_thermal=args.n_thermal,
                         n_stretch=args.n_stretch, n_radical_bonds=args.n_radical_bonds, workers=args.workers,
                         resume=args.resume, kinds=args.kinds, cleave=args.cleave)
    print(f"wrote {prov['n_frames']} frames of {prov['n_molecules']} molecules to {out} "
          f"({prov['frames_by_kind']}); provenance in {out}.json; {len(prov['failures'])} failure(s)")
    return 0


def cmd_train(args) -> int:
    from .train import train

    name = os.path.splitext(os.path.basename(args.config))[0]
    run_dir = args.run_dir or os.path.join("runs", "train", name)
    out = args.out or os.path.join("runs", "models", f"{name}.nequip.zip")
    card = train(args.config, run_dir, out, model_id=args.id, overrides=args.overrides, resume=args.resume,
                 init_from=args.init_from)
    test = card.get("metrics", {}).get("test", {})
    print(f"model {out} (card {out.replace('.nequip.zip', '.card.json')}); test: "
          + ", ".join(f"{k}={v:.4g}" for k, v in test.items() if k.endswith("mae")))
    return 0


def cmd_study(args) -> int:
    import pandas as pd

    from .study import EVAL_CACHE, STUDY_DIR, evaluate_study, load_study, package_run, train_runs

    study = load_study(args.config)
    runs = [r for r in study["runs"] if not args.only or r["id"] in args.only]
    unknown = sorted(set(args.only or []) - {r["id"] for r in study["runs"]})
    if unknown:
        raise E3DError(f"no run {', '.join(unknown)} in {args.config}")
    if args.package:
        for run in runs:
            print(f"{run['id']}: {package_run(study, run)}")
    if args.train:
        for run, status in zip(runs, train_runs(study, runs, max_time=args.time, parallel=args.parallel)):
            print(f"{run['id']}: {status}", flush=True)
    if not args.no_evaluate:
        table = evaluate_study(study, progress=sys.stderr.isatty(), cache_dir=None if args.no_cache else EVAL_CACHE)
        print(f"wrote precomputed/study/emergence.parquet ({len(table)} runs)")
        if len(table):
            cols = ["run_id", "epochs", "converged", "test_energy_mae_meV_atom", "d_vs_rigid_mae", "d_vs_rigid_rho",
                    "cut_vs_rigid_mae", "cut_vs_rigid_rho", "relaxed_est_vs_relaxed_mae", "relaxed_est_vs_relaxed_rho"]
            print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.2f}"))
            from .report import configurations_markdown

            print(configurations_markdown(pd.read_parquet(os.path.join(STUDY_DIR, "configurations.parquet"))))
    return 0


def cmd_family(args) -> int:
    from .family import train_family, write_index

    if args.action == "ship":
        from .family import ship_run

        if not (args.only and len(args.only) == 1 and args.run_dir):
            raise E3DError("family ship needs --only ID and --run-dir DIR")
        card = ship_run(args.only[0], args.run_dir)
        print(f"shipped {args.only[0]} (epochs {card['metrics'].get('epochs')}; test {card['metrics'].get('test')})")
        return 0
    if args.action == "domains":
        from .family import refresh_training_domains

        status = refresh_training_domains(only=args.only)
        for state in ("updated", "unchanged", "no training file here"):
            ids = [k for k, v in status.items() if v == state]
            print(f"{state}: {len(ids)}" + (f" ({', '.join(ids)})" if ids and state != "unchanged" else ""))
        return 0
    if args.action == "index":
        index = write_index()
        print(f"indexed {len(index['models'])} model(s); main: {index['main']}")
        return 0
    trained = train_family(only=args.only, retrain=args.retrain)
    print(f"trained: {', '.join(trained) or 'nothing (all present)'}")
    return 0


def cmd_precompute(args) -> int:
    from .precompute import precompute
    from .references import REFERENCE_METHODS

    unknown = [m for m in args.additivity_gap or () if m not in REFERENCE_METHODS]
    if unknown:
        raise E3DError(f"--additivity-gap: unknown labelling method {', '.join(unknown)} (known: "
                       f"{', '.join(REFERENCE_METHODS)})")

    manifest = precompute(out_dir=args.out, model_ids=args.models, progress=sys.stderr.isatty(),
                          cache_dir=None if args.no_cache else os.path.join("runs", "precompute_cache"),
                          gap_methods=args.additivity_gap or ())
    print(f"precomputed {len(manifest['models'])} model(s) into {args.out}: "
          + ", ".join(f"{k} ({v} rows)" for k, v in manifest["tables"].items()))
    return 0


def cmd_batch(args) -> int:
    from .batch import run_batch
    from .cards import default_model_path

    summary = run_batch(args.input, args.model or default_model_path(), args.output, shard_size=args.shard_size,
                        devices=args.devices, num_nodes=args.num_nodes, accelerator=args.accelerator,
                        num_workers=args.workers, max_atoms=args.max_atoms, progress=sys.stderr.isatty(),
                        dtype=args.dtype)
    if summary:
        print(f"wrote {summary['rows']} rows for {summary['molecules']} molecule(s) ({summary['shards']} shard(s), "
              f"{summary['errors']} with an error) to {args.output}")
        failed = summary["failed"]
        _print_failures([f"{name}: {error}" for name, error in zip(failed["molecule"], failed["error"])], args.output)
    return 0


def _print_failures(lines: List[str], output: str, shown: int = 5, column: str = "error") -> None:
    """The first ``shown`` of ``lines`` (an input's name and what went wrong with it); all of them are in
    ``output``'s ``column``."""
    for line in lines[:shown]:
        print(f"  {line}")
    if len(lines) > shown:
        print(f"  … and {len(lines) - shown} more (column {column} of {output})")


def cmd_evaluate(args) -> int:
    from .evaluate import evaluate, label_mismatch
    from .model import load_model

    model = load_model(args.model, device=args.device, dtype=args.dtype)
    result = evaluate(model, args.data, limit=args.limit, every=args.every, progress=sys.stderr.isatty())
    print(f"model: {_model_line(model)}; data: {args.data}")
    mismatch = label_mismatch(model, args.data)
    if mismatch:
        print(f"note: {mismatch}", file=sys.stderr)
    for key, value in result.items():
        unit = {"total_energy_mae": "eV/molecule", "total_energy_rmse": "eV/molecule", "per_atom_energy_mae": "eV/atom",
                "forces_mae": "eV/Å", "forces_rmse": "eV/Å"}.get(key, "eV/frame" if "energy" in key else "")
        print(f"  {key:22s} {value:.4g} {unit}")
    return 0


def cmd_report(args) -> int:
    from .report import replace_report_block, results_markdown

    if not os.path.exists(os.path.join(args.precomputed, "models.parquet")):
        raise E3DError(f"no {args.precomputed}/models.parquet: run `python -m e3d precompute` first")
    if not args.readme:
        print(results_markdown(args.precomputed))
        return 0
    if not os.path.isfile(args.readme):
        raise InputError(f"--readme {args.readme}: no such file")
    with open(args.readme, encoding="utf-8") as fh:
        text = fh.read()
    new = replace_report_block(text, results_markdown(args.precomputed), what=args.readme)  # checks before writing
    with open(args.readme, "w", encoding="utf-8") as fh:
        fh.write(new)
    print(f"{args.readme}: report block {'unchanged' if new == text else 'updated'}")
    return 0


def cmd_compile(args) -> int:
    from .compiled import compile_model

    compile_model(args.model, args.output, device=args.device if args.device != "auto" else "cpu")
    print(f"compiled {args.model} → {args.output} (+ sidecar {args.output}.e3d.json)")
    return 0


def cmd_bde(args) -> int:
    import pandas as pd

    import numpy as np

    from .additivity import sum_rule_metrics
    from .bde import bde_metrics, error_budget, flat_metrics, read_at_labeller_minimum, relaxation_term
    from .bde_check import check_bde_table, read_bde_csv
    from .model import load_model
    from .verdict import findings
    from .within_type import COMPARISON_NAMES as WITHIN_NAMES, COMPARISONS as WITHIN_COMPARISONS
    from .within_type import sentence as within_sentence, type_offset_split

    model = load_model(args.model, device=args.device, dtype=args.dtype)
    if not os.path.exists(args.table):
        raise E3DError(f"file not found: {args.table}")
    with open(args.table, "rb") as fh:
        table = read_bde_csv(fh.read(), args.table)
    out = check_bde_table(model, table, reference=None if args.no_reference else "auto", thermal=not args.no_thermal,
                          additivity_gap=args.additivity_gap, progress=sys.stderr.isatty())
    write_table(out, args.output)
    ok = out["error"].isna()
    print(f"wrote {len(out)} rows to {args.output} ({int((~ok).sum())} with errors); model: {_model_line(model)}")

    def named(k: int, why: str) -> str:
        return f"row {k + 1}" + (f" ({out['label'].iloc[k]})" if "label" in out else "") + f": {why}"

    _print_failures([named(k, out["error"].iloc[k]) for k in np.flatnonzero(~ok)], args.output)
    noted = np.flatnonzero(out["note"].fillna("").astype(bool)) if "note" in out else []
    if len(noted):
        print(f"{len(noted)} row(s) with a note (values left empty, out of the metrics that need them; or a fragment "
              "read at its GFN2-xTB minimum):")
        _print_failures([named(k, out["note"].iloc[k]) for k in noted], args.output, column="note")
    fallback = np.flatnonzero(read_at_labeller_minimum(out))
    if len(fallback):
        print(f"{len(fallback)} row(s) whose parent is read at its GFN2-xTB minimum, the model's own minimum not "
              "being that molecule:")
        _print_failures([named(k, out["geometry"].iloc[k]) for k in fallback], args.output, column="geometry")
    print(f"quantity: {out['quantity'].iloc[0] if len(out) else ''}")
    if not len(out):
        return 0
    headline = out["headline"]
    unseen = sorted(set(out.loc[out["bond_type_seen"].map(lambda v: v is False), "bond_type"]))
    n_headline = int(headline.sum())
    print(f"headline: {n_headline} row{'' if n_headline == 1 else 's'} of common organic bond types the model has "
          "seen, within its training domain"
          + (f"; bond types it never saw (kept out): {', '.join(unseen)}" if unseen else ""))
    metrics = bde_metrics(out, out["quantity"].iloc[0], headline)
    if metrics.empty:
        print("no metrics: they need ≥ 2 headline rows with a value to compare with (a bde_kcal_mol column, or the "
              "labelling method's BDEs without --no-reference)")
    width = max(map(len, metrics["series"]), default=0)  # bde_metrics keeps its columns when empty
    for against, group in metrics.groupby("against", sort=False):
        print(f"vs {against} (kcal/mol):")
        for _, m in group.iterrows():
            print(f"  {m['series']:{width}s} n={m['n']:<4d} MAE={m['mae']:6.1f} RMSE={m['rmse']:6.1f} "
                  f"R²={m['r2']:5.2f} slope={m['slope']:5.2f} ρ={m['spearman']:5.2f}")
    budget, rule = error_budget(out, headline), sum_rule_metrics(out, headline)
    if np.isfinite(budget["budget_accuracy_mae"]):
        print("error budget of D_ij − rigid labels, mean |term| (kcal/mol): accuracy {budget_accuracy_mae:.1f}, "
              "locality {budget_locality_mae:.1f} (at the radical centres {budget_locality_at_centres_mae:.1f}, "
              "elsewhere {budget_locality_beyond_mae:.1f}), partition {budget_partition_mae:.1f}".format(**budget))
    relaxation = relaxation_term(out, headline)
    if np.isfinite(relaxation["relaxation_term_mae"]):
        print("relaxed estimate − relaxed labels = (cut − rigid labels) + relaxation term (labels' − the model's "
              "own fragment relaxation energy): mean |term| {relaxation_term_mae:.1f}, "
              "mean {relaxation_term_mean:+.1f} kcal/mol (< 0: the model relaxes the fragments too far)"
              .format(**relaxation))
    if rule["sum_rule_n"]:
        labeller = ", ".join(out.loc[headline, "reference_method"].dropna().unique())
        print(f"sum rule (n={rule['sum_rule_n']}, acyclic parents): mean D_ij − rigid labels "
              f"{rule['d_vs_rigid_mean_error']:+.1f}; the parents' additivity gap alone makes it "
              f"{rule['sum_rule_mean_offset']:+.1f} (mean −G/n_bonds, {labeller}; the model's own G/n_bonds "
              f"{rule['model_additivity_gap_mean']:+.1f}), r = {rule['sum_rule_r']:.2f} row by row; "
              f"D_ij + G/n_bonds vs rigid labels (a diagnostic): MAE {rule['d_plus_gap_vs_rigid_mae']:.1f}, "
              f"ρ {rule['d_plus_gap_vs_rigid_rho']:.2f}")
    for tag in ("d_vs_exp298", "d_vs_rigid"):
        pred, ref = WITHIN_COMPARISONS[tag]
        if pred in out and ref in out:
            split = type_offset_split(out.loc[headline, ref], out.loc[headline, pred], out.loc[headline, "bond_type"])
            if np.isfinite(split["mae"]):
                print("within bond types (docs/E3D_METHOD.md §4j): " + within_sentence(split, WITHIN_NAMES[tag]))
    found = findings(pd.Series({**flat_metrics(metrics), **budget, **rule}))
    if len(found):
        print("where emergence holds, on the headline rows (docs/E3D_METHOD.md §4g; holds = the target, partly = "
              "beats one energy per bond type):")
        for _, f in found.iterrows():
            print(f"  {f['finding']:27s} {f['verdict']:12s} {f['measured']} (bond-type fit {f['bond-type fit']}; "
                  f"target {f['target']})" + (f" — {f['note']}" if f["note"] else ""))
    every = bde_metrics(out, out["quantity"].iloc[0])
    if len(every):
        m = every.iloc[0]
        print(f"every row: {m['series']} vs {m['against']}: n={m['n']} MAE={m['mae']:.1f} ρ={m['spearman']:.2f}")
    return 0


def _at_least(low: int):
    """An argparse type: an integer ≥ ``low`` (argparse names the option in its message)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be ≥ {low} (got {value})")
        return value
    return parse


POSITIVE, COUNT = _at_least(1), _at_least(0)


def _model_args(p) -> None:
    p.add_argument("--model", help="model file (.nequip.zip, .ckpt, .nequip.pt2, or a sum of models .sum.json); default: the main shipped model")
    p.add_argument("--device", default="auto", help="cpu, cuda, or auto (default)")
    _dtype_arg(p)


def _dtype_arg(p) -> None:
    p.add_argument("--dtype", choices=["float64", "float32"], default=None,
                   help="run the model in this precision (default: as trained); float32 is ~2× faster "
                        "on CPU, its sum-rule residual is reported")


def _wall_time(text: str) -> str:
    """:func:`e3d.train.wall_time` as an argparse type (a bad value: a usage error naming it)."""
    from .train import wall_time

    try:
        return wall_time(text)
    except E3DError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _bonds_parser(sub) -> None:
    p = sub.add_parser("bonds", help="per-pair edge energies ε_ij and bond energies D_ij of molecules")
    p.add_argument("input", help="a SMILES string, or a file: .xyz .sdf .mol .pdb, or .csv/.smi with a smiles column")
    _model_args(p)
    p.add_argument("-o", "--output", help="write all pairs to .csv, .parquet or .json (default: print bonds)")
    p.add_argument("--bonded-only", action="store_true", help="only bonded pairs in the output file")
    p.add_argument("--charge", type=int, default=None, help="total charge (default: from the graph; 0 for xyz)")
    p.add_argument("--multiplicity", type=POSITIVE, default=None, help="spin multiplicity (default: from the graph)")
    p.add_argument("--relax", action="store_true",
                   help="relax each molecule with the model first (warns when its minimum has other bonds, or lies "
                        "more than 1 eV below the model's energy at the GFN2-xTB minimum)")
    p.add_argument("--max-atoms", type=POSITIVE, default=DEFAULT_MAX_ATOMS,
                   help=f"refuse larger molecules (default {DEFAULT_MAX_ATOMS})")
    p.add_argument("--tolerance", type=float, default=None,
                   help="sum-rule tolerance in eV (default 1e-6 for float64, 1e-4 per atom for float32; "
                        "negative: report residuals, never stop)")
    p.set_defaults(func=cmd_bonds)


def _info_parser(sub) -> None:
    p = sub.add_parser("info", help="what a model is: types, cutoff, dtype, scales/shifts, model card")
    _model_args(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--all", action="store_true", help="list the shipped model family with test errors")
    p.set_defaults(func=cmd_info)


def _study_parser(sub) -> None:
    p = sub.add_parser("study", help="the emergence study: train its runs (resumable) and write precomputed/study/")
    p.add_argument("config", help="study YAML (configs/study/emergence.yaml)")
    p.add_argument("--train", action="store_true", help="train the unfinished runs (data built on demand); each stops when its validation "
                        "curve has converged (e3d.convergence) or its step budget is spent")
    p.add_argument("--time", type=_wall_time, help="wall-time budget per run for --train, DD:HH:MM:SS or HH:MM:SS "
                                                   "(default: to convergence or the step budget)")
    p.add_argument("--parallel", type=POSITIVE, default=1,
                   help="--train: runs trained at once (default 1; on a CPU one per core, each on one thread)")
    p.add_argument("--package", action="store_true",
                   help="package runs already trained into runs/study/runs/ID (e.g. started with e3d train)")
    p.add_argument("--only", nargs="+", help="these run ids only")
    p.add_argument("--no-evaluate", action="store_true", help="skip writing the study tables")
    p.add_argument("--no-cache", action="store_true",
                   help="evaluate every run afresh (default: reuse runs/study_eval_cache/ for runs whose model and "
                        "data files are byte-identical to an earlier evaluation)")
    p.set_defaults(func=cmd_study)


def _family_parser(sub) -> None:
    p = sub.add_parser("family", help="train the shipped model family (configs/family.yaml) or rebuild its index")
    p.add_argument("action", choices=["train", "index", "ship", "domains"],
                   help="train missing models; rebuild the index; ship an existing run (--only ID --run-dir DIR); "
                        "recompute the cards' training domains from the training files here")
    p.add_argument("--run-dir", help="ship: the training run folder holding best.ckpt")
    p.add_argument("--only", nargs="+", help="model ids to train (default: every missing one) or whose domains to "
                                             "recompute (default: all)")
    p.add_argument("--retrain", action="store_true", help="train even if the model file exists")
    p.set_defaults(func=cmd_family)


def _bde_parser(sub) -> None:
    p = sub.add_parser("bde", help="learned BDEs of specific bonds vs the labelling method and experiment")
    p.add_argument("table", help="CSV with label, parent_smiles, fragment_a, fragment_b[, bde_kcal_mol, …]")
    _model_args(p)
    p.add_argument("-o", "--output", required=True, help="output .csv/.parquet/.json: the rows plus BDE columns")
    p.add_argument("--no-reference", action="store_true", help="skip the labelling method's own BDEs")
    p.add_argument("--no-thermal", action="store_true",
                   help="skip the ZPE/thermal correction (GFN2-xTB harmonic frequencies) and the *_298 columns")
    p.add_argument("--additivity-gap", action="store_true",
                   help="compute each parent's additivity gap also when the labels are DFT (two PySCF single points "
                        "for every bond not in the shipped reference energies: seconds to minutes per parent); "
                        "without it DFT gaps come from the shipped energies only, GFN2-xTB gaps are always computed")
    p.set_defaults(func=cmd_bde)


def _data_parser(sub) -> None:
    p = sub.add_parser("data", help="build a labelled training set (extxyz + provenance JSON)")
    p.add_argument("labeller", choices=["xtb", "dft", "delta", "minima", "qm9", "spice", "atct"],
                   help="GFN2-xTB or DFT (PySCF) labels on a corpus, (delta) a labelled set's labels minus GFN2-xTB's "
                        "(or a GFN2-xTB model's, --on) on its geometries (Δ-learning), (minima) a GFN2-xTB set's "
                        "parents and radicals where the model --on relaxes them (its minimum and half-way), labelled "
                        "with GFN2-xTB, QM9 (DFT) subsets, a SPICE 2 HDF5 file you "
                        "have, or (atct) the experimental BDE table from ATcT heats of formation")
    p.add_argument("--level", default="B3LYP/def2-SVP",
                   help="dft: FUNCTIONAL/BASIS (default B3LYP/def2-SVP; UKS with stability analysis)")
    p.add_argument("--input", help="spice: the SPICE HDF5 file; delta, minima: the labelled .extxyz (with its .json)")
    p.add_argument("--on", metavar="MODEL",
                   help="delta: the labels minus this GFN2-xTB model's (a residual Δ set, for a Δ model summed with "
                        "exactly that model) instead of minus GFN2-xTB's; minima: the model that relaxes the species")
    p.add_argument("--subset", nargs="+", help="spice: keep these subsets (substring match)")
    p.add_argument("--elements", nargs="+", help="spice: keep molecules made only of these elements")
    p.add_argument("--max-atoms", type=POSITIVE, help="spice: skip larger molecules")
    p.add_argument("--target", default="H298", choices=["H298", "U0", "Ee"], help="QM9 target (default H298)")
    p.add_argument("--sizes", help="QM9 nested training sizes, comma-separated (default 1000,…,120000)")
    p.add_argument("--variant", default="radicals", choices=["eq", "thermal", "stretch", "radicals"],
                   help="what the data teaches (cumulative; default radicals)")
    p.add_argument("--corpus", default="train",
                   help="'train' (214 curated), 'train-extended' (+ scaffold × substituent, 568), 'eval' (held-out), "
                        "'train-small' / 'eval-small' (≤ 3 / ≤ 4 heavy atoms, for DFT), 'train-heldout' (train without the "
                        "BDE-table parents), 'train-heavy4' (its molecules with 4 heavy atoms: the next DFT shell), "
                        "qm9:N (the first N QM9 molecules at their B3LYP geometries, rigid radicals; "
                        "held-out molecules excluded), qm9-test:N (the first N of QM9's test split, a held-out QM9 set), "
                        "a .smi file, or several joined by '+'")
    p.add_argument("--out", help="output .extxyz for xtb (default runs/data/xtb_VARIANT_CORPUS.extxyz; minima: "
                                 "INPUT_minima.extxyz), folder for qm9 (default runs/data/qm9)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=POSITIVE, help="first N molecules only (xtb corpus or QM9)")
    p.add_argument("--n-thermal", type=COUNT, default=8, help="displaced frames per molecule")
    p.add_argument("--n-stretch", type=COUNT, default=4, help="bond-stretched frames per molecule")
    p.add_argument("--n-radical-bonds", type=COUNT, default=2, help="bonds broken per molecule for radicals")
    p.add_argument("--cleave", nargs="+", metavar="BOND_TYPE",
                   help="xtb/dft: radicals from every acyclic bond of these types (O-H, C=C, C#C, C=O) instead of "
                        "--n-radical-bonds random single bonds; multiple bonds give triplet/quartet fragments")
    p.add_argument("--kinds", nargs="+", choices=("eq", "thermal", "stretch", "radical"),
                   help="xtb/dft: label only frames of these kinds (e.g. radical: extra radicals for a set built "
                        "before, to join with it)")
    p.add_argument("--workers", type=POSITIVE, default=1,
                   help="xtb/dft/minima: label over N processes (same output for any N; geometries stay sequential)")
    p.add_argument("--resume", action="store_true",
                   help="xtb/dft: continue an interrupted build with the same arguments (keeps the frames written)")
    p.set_defaults(func=cmd_data)


def _train_parser(sub) -> None:
    p = sub.add_parser("train", help="train an Allegro model from a config, package it and write its card")
    p.add_argument("config", help="Hydra/YAML config (see configs/)")
    p.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. trainer.max_epochs=10 trainer.devices=4")
    p.add_argument("--run-dir", help="checkpoints and logs (default runs/train/CONFIG)")
    p.add_argument("--out", help="packaged model (default runs/models/CONFIG.nequip.zip)")
    p.add_argument("--id", help="model id for the card")
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.ckpt")
    p.add_argument("--init-from", metavar="MODEL",
                   help="fine-tune: start from this trained model (.nequip.zip or .ckpt) with its per-type shifts "
                        "switched to the new dataset's isolated atoms (e.g. pretrained on GFN2-xTB, tuned on DFT)")
    p.set_defaults(func=cmd_train)


def _batch_parser(sub) -> None:
    p = sub.add_parser("batch", help="library-scale pair tables with Lightning (CPU, GPU, many GPUs/nodes via DDP)")
    p.add_argument("input", help=".smi, .csv (smiles column) or .sdf")
    p.add_argument("--model", help="model file (default: the main shipped model)")
    p.add_argument("-o", "--output", required=True, help="output .parquet (shards in OUTPUT.parts/, resumable)")
    p.add_argument("--devices", type=POSITIVE, default=1, help="devices per node (DDP when > 1)")
    p.add_argument("--num-nodes", type=POSITIVE, default=1, help="nodes (DDP; see README for SLURM)")
    p.add_argument("--accelerator", default="auto", help="cpu, gpu or auto")
    p.add_argument("--shard-size", type=POSITIVE, default=256, help="molecules per shard / predict step")
    p.add_argument("--workers", type=COUNT, default=0,
                   help="DataLoader workers reading the molecules (SMILES embedded in 3D, SDF records parsed; "
                        "default 0: in the main process)")
    p.add_argument("--max-atoms", type=POSITIVE, default=DEFAULT_MAX_ATOMS, help="refuse larger molecules")
    _dtype_arg(p)
    p.set_defaults(func=cmd_batch)


def _evaluate_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="energy and force errors of a model on a labelled .extxyz file (and per frame kind)")
    p.add_argument("data", help="labelled frames (.extxyz with energy and optionally forces)")
    _model_args(p)
    p.add_argument("--limit", type=POSITIVE, help="first N frames only")
    p.add_argument("--every", type=POSITIVE, default=1, help="every K-th frame only (e.g. a sample of a training set)")
    p.set_defaults(func=cmd_evaluate)


def _precompute_parser(sub) -> None:
    p = sub.add_parser("precompute", help="run every analysis for every shipped model → Parquet tables")
    p.add_argument("--out", default="precomputed", help="output folder (default precomputed/)")
    p.add_argument("--models", nargs="+", help="model ids (default: every model in the index)")
    p.add_argument("--no-cache", action="store_true",
                   help="recompute every model (default: reuse runs/precompute_cache/ for unchanged models; "
                        "labelling-method energies are always reused from OUT/reference_energies.json — "
                        "delete it to recompute them, ~1 h)")
    p.add_argument("--additivity-gap", nargs="+", metavar="METHOD",
                   help="also compute the additivity gaps (every bond's rigid and relaxed BDE of each parent) with "
                        "these DFT labelling methods where OUT/reference_energies.json lacks them (PySCF, seconds to "
                        "a minute per bond; saved as they come), e.g. B3LYP/def2-SVP. GFN2-xTB gaps are always computed")
    p.set_defaults(func=cmd_precompute)


def _report_parser(sub) -> None:
    p = sub.add_parser("report", help="markdown tables of the precomputed results (the README's numbers)")
    p.add_argument("--precomputed", default="precomputed")
    p.add_argument("--readme", metavar="FILE", help="write the tables into FILE between its report markers "
                   "(README.md: its generated results block) instead of printing them")
    p.set_defaults(func=cmd_report)


def _compile_parser(sub) -> None:
    p = sub.add_parser("compile", help="AOTInductor-compile a model that outputs edge energies")
    _model_args(p)
    p.add_argument("output", help="output path ending in .nequip.pt2 (a .e3d.json sidecar is written beside it)")
    p.set_defaults(func=cmd_compile)


COMMANDS = [_bonds_parser, _info_parser, _study_parser, _family_parser, _bde_parser, _data_parser, _train_parser, _batch_parser, _evaluate_parser, _precompute_parser, _report_parser, _compile_parser]  # the order of --help


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m e3d", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """The command line; Hydra overrides may also follow options (``e3d train CONFIG --id X seed=2``),
    which plain argparse rejects once the positionals are filled."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and isinstance(getattr(args, "overrides", None), list) and not any(e.startswith("-") for e in extra):
        args.overrides += extra
    elif extra:
        parser.parse_args(argv)  # argparse's own message naming what it did not recognise; exits 2
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        code = args.func(args)
        sys.stdout.flush()  # here, not at exit, so that a closed pipe lands in the handler below
        return code
    except E3DError as exc:
        hint = " (raise it with --max-atoms)" if isinstance(exc, TooLargeError) else ""
        print(f"error: {exc}{hint}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`e3d info --all | head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's exit-time flush would raise again
        return 141
