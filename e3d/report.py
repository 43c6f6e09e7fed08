"""Markdown summaries of the precomputed results (what the README quotes): ``python -m e3d report``;
``python -m e3d report --readme README.md`` writes them between the README's report markers."""

from __future__ import annotations

import os
from typing import Dict, List

import numpy as np
import pandas as pd

from .scaling import REACTIVITY_MEASURES, entropy_reactivity, fit_power_law
from .precompute import read_table
from .ensemble import MIN_TYPE_BONDS, seed_sigma_by_group
from .verdict import R2_TARGET, SEED_SIGMA_TARGET, TARGETS, ensemble_seed_sigma, verdict_table


def cell(v, digits=1) -> str:
    """A table cell: ``digits`` decimals, "–" for a missing value (None, NaN: a model without that reference)."""
    if v is None or (isinstance(v, (float, np.floating)) and not np.isfinite(v)):
        return "–"
    return f"{v:.{digits}f}" if isinstance(v, (float, np.floating)) else str(v)


def _mae_rho(row, key: str) -> str:
    """'MAE / ρ' of the flat metric columns ``{key}_mae`` and ``{key}_rho``."""
    return f"{cell(row.get(key + '_mae'))} / {cell(row.get(key + '_rho'), 2)}"


def _rho_range(values: pd.Series) -> str:
    lo, hi = cell(values.min(), 2), cell(values.max(), 2)
    return lo if lo == hi else f"{lo}–{hi}"


def _milli(x):
    return None if x is None or pd.isna(x) else 1000.0 * x


def results_markdown(precomputed: str) -> str:
    models = pd.read_parquet(os.path.join(precomputed, "models.parquet"))
    lines = ["| model | labels | training frames | test E MAE (meV/atom) | test F MAE (meV/Å) | BDE MAE vs exp. | "
             "BDE MAE vs exp. (298 K) | BDE MAE vs labels | labels vs exp. (298 K) | ρ vs exp. | weakest-bond acc. | "
             "scan MAE vs labels | H (nats) | f_bond | median D vs MBE R² | baseline vs MBE R² | "
             "median D vs labels' additive fit: R² / MAE |",
             "|" + "---|" * 17]
    for r in models.itertuples():
        lines.append("| " + " | ".join([
            r.model_id, str(r.level_of_theory), cell(r.n_training_frames),
            cell(_milli(r.test_per_atom_energy_mae_eV)), cell(_milli(r.test_forces_mae_eV_A), 0),
            cell(r.bde_mae_vs_exp), cell(r.bde_298_mae_vs_exp), cell(r.bde_mae_vs_reference),
            cell(r.reference_bde_298_mae_vs_exp),
            cell(r.bde_spearman_vs_exp, 2), cell(r.weakest_bond_accuracy, 2), cell(r.scan_mae_vs_reference_kcal_mol),
            cell(r.entropy_weighted_nats, 2), cell(r.f_bond_mean, 2), cell(r.median_D_r2_vs_mbe, 2),
            cell(r.baseline_r2_vs_mbe, 2),
            f"{cell(r.median_D_r2_vs_baseline, 2)} / {cell(r.median_D_mae_vs_baseline)}"]) + " |")
    out = "\n".join(lines)
    scaling = models[models["role"] == "scaling"].dropna(subset=["n_training_frames"])
    if len(scaling) >= 2:
        out += "\n\nScaling (QM9 H298 nested subsets, equal optimiser steps), power law value ≈ a·N^b:\n\n| quantity | b | R² (log) |\n|---|---|---|\n"
        for col, name in (("test_per_atom_energy_mae_eV", "test energy MAE"), ("bde_298_mae_vs_exp", "BDE MAE vs exp. (298 K)"),
                          ("entropy_weighted_nats", "entropy H"), ("f_bond_mean", "f_bond")):
            fit = fit_power_law(scaling["n_training_frames"], scaling[col])
            out += f"| {name} | {cell(fit['b'], 3)} | {cell(fit['r2_log'], 2)} |\n"
    return (out + like_with_like_markdown(models) + domain_markdown(models) + reactivity_markdown(models)
            + ensemble_markdown(precomputed) + study_markdown(precomputed) + budget_markdown(precomputed)
            + sum_rule_markdown(precomputed, models) + within_type_markdown(precomputed, models)
            + inheritance_markdown(precomputed)
            + verdict_markdown(precomputed, models)
            + targets_markdown(precomputed, models))


def verdict_markdown(precomputed: str, models: pd.DataFrame) -> str:
    """Where emergence holds, model by model (e3d.verdict; docs/E3D_METHOD.md §4g)."""
    table = verdict_table(models, ensemble_seed_sigma(read_table(precomputed, "ensemble_bonds")))
    if table.empty:
        return ""
    names = list(table.columns[2:])
    out = ("\nWhere emergence holds, model by model (`e3d.verdict`, docs/E3D_METHOD.md §4g; headline rows, MAE kcal/mol "
           "/ Spearman ρ): **holds** meets the emergence issue's target; **partly** beats one energy per bond type (the "
           "labels' bond-additive fit) on both MAE and ρ; **does not**, neither. Seeds: σ(D_ij) of the worst bond type "
           f"over the model's seed ensemble, target ≤ {SEED_SIGMA_TARGET:g} kcal/mol:\n\n"
           "| model | labels | " + " | ".join(names) + " |\n|" + "---|" * (2 + len(names)) + "\n")
    for r in table.itertuples(index=False):
        out += f"| {r[0]} | {r[1]} | " + " | ".join("–" if pd.isna(v) else str(v) for v in r[2:]) + " |\n"
    return out


# the README's generated block lies between these two lines (each alone on its line, once)
REPORT_BEGIN = "<!-- python -m e3d report: begin (generated; edit e3d/report.py, not this block) -->"
REPORT_END = "<!-- python -m e3d report: end -->"


def replace_report_block(text: str, report: str, what: str = "README") -> str:
    """``text`` with the lines between :data:`REPORT_BEGIN` and :data:`REPORT_END` replaced by ``report``."""
    from .errors import InputError

    lines = text.split("\n")
    found = {m: [k for k, line in enumerate(lines) if line.strip() == m] for m in (REPORT_BEGIN, REPORT_END)}
    if any(len(at) != 1 for at in found.values()) or found[REPORT_BEGIN][0] > found[REPORT_END][0]:
        raise InputError(f"{what}: needs the line {REPORT_BEGIN!r} once, followed by the line {REPORT_END!r} once "
                         f"(found {len(found[REPORT_BEGIN])} and {len(found[REPORT_END])})")
    begin, end = found[REPORT_BEGIN][0], found[REPORT_END][0]
    return "\n".join(lines[:begin + 1] + ["", report.strip(), ""] + lines[end:])


# the xTB-model targets of the emergence issue (thresholds: e3d.verdict.TARGETS)
BDE_TARGETS = {"d_vs_rigid": "D_ij vs GFN2-xTB rigid BDE, xTB-trained models",
               "relaxed_est_vs_relaxed": "relaxed estimate (cut − model's own relaxation) vs GFN2-xTB relaxed BDE"}


def targets_markdown(precomputed: str, models: pd.DataFrame) -> str:
    """Where each target of the emergence issue stands: the best model or study run on each measure
    (headline rows: common organic bonds the model saw), from the tables — nothing typed in."""
    study = read_table(precomputed, "study/emergence").rename(columns={"run_id": "model_id"})
    xtb = pd.concat([models[models["level_of_theory"].astype(str).str.startswith("GFN2")], study], ignore_index=True)
    out = ("\nTargets of the emergence issue, best model or study run per measure (MAE kcal/mol; models table "
           "and study table above):\n\n| measure | target | best MAE | best ρ | met by (both halves by one model) |\n|---|---|---|---|---|\n")
    for key, what in BDE_TARGETS.items():
        rho, mae = TARGETS[key]
        rows = xtb.dropna(subset=[f"{key}_mae", f"{key}_rho"]) if {f"{key}_mae", f"{key}_rho"} <= set(xtb) else xtb[:0]
        if not len(rows):
            continue
        b_mae, b_rho = rows.loc[rows[f"{key}_mae"].idxmin()], rows.loc[rows[f"{key}_rho"].idxmax()]
        met = rows[(rows[f"{key}_rho"] >= rho) & (rows[f"{key}_mae"] <= mae)]
        out += (f"| {what} | ρ ≥ {rho}, MAE ≤ {mae:g} | {cell(b_mae[f'{key}_mae'])} ({b_mae.model_id}) | "
                f"{cell(b_rho[f'{key}_rho'], 2)} ({b_rho.model_id}) | {', '.join(met['model_id']) or 'no'} |\n")
    from .ensemble import ensemble_members
    from .family import read_index

    index = read_index(os.path.join(precomputed, "models"))
    main_id = next((m["id"] for m in index["models"] if m["file"] == index["main"]), None)
    main = models[models["model_id"] == main_id]
    if len(main):
        m = main.iloc[0]
        rho, mae = TARGETS["d_vs_exp298"]
        ok = m.d_vs_exp298_rho >= rho and m.d_vs_exp298_mae <= mae
        out += (f"| main model ({m.model_id}, {m.level_of_theory}) D_ij vs experiment (298 K) | ρ ≥ {rho:g}, MAE ≤ {mae:g} | "
                f"{cell(m.d_vs_exp298_mae)} | {cell(m.d_vs_exp298_rho, 2)} | {'yes' if ok else 'no'} |\n")
    every = pd.concat([models, study], ignore_index=True)
    for col, name in (("median_D_r2_vs_mbe", "mean bond enthalpies"),
                      ("median_D_r2_vs_baseline", "the labels' own bond-additive fit (like with like)")):
        rows = every.dropna(subset=[col]) if col in every else every.iloc[:0]
        if len(rows):
            best = rows.loc[rows[col].idxmax()]
            met = rows.loc[rows[col] >= R2_TARGET, "model_id"]
            out += (f"| per-type medians of D vs {name}: R² | ≥ {R2_TARGET} | – | {cell(best[col], 2)} "
                    f"({best.model_id}) | {', '.join(met) or 'no'} |\n")
    out += _ensemble_targets_markdown(models, ensemble_members(index))
    worst = seed_sigma_by_group(read_table(precomputed, "study/seed_spread")).sort_values("worst")
    if len(worst):
        out += (f"\nSeed σ(D_ij) target (≤ {SEED_SIGMA_TARGET:g} kcal/mol for every bond type with ≥ {MIN_TYPE_BONDS} "
                "held-out corpus bonds), worst type per configuration:\n\n")
        out += "| configuration | seeds | worst type | its σ | met |\n|---|---|---|---|---|\n"
        for group, r in worst.iterrows():
            out += (f"| {group} | {r.n_seeds} | {r.worst_type} | {cell(r.worst)} | "
                    f"{'yes' if r.worst <= SEED_SIGMA_TARGET else 'no'} |\n")
    sc = read_table(precomputed, "study/scaling")
    if len(sc):
        done = sc[(sc["converged"] == sc["seeds"]) & (sc["seeds"] >= 3)]["n_qm9"].tolist()
        span = max(done) / min(done) if done else 0
        met = len(done) >= 4 and span >= 64
        out += (f"\nConverged scaling curve (≥ 4 sizes spanning ≥ 64×, every size with ≥ 3 converged seeds): "
                f"{len(done)} size(s) ({', '.join(f'{n:,}' for n in done) or 'none'} QM9 molecules"
                f"{f', {span:g}×' if done else ''}) of the {len(sc)} size(s) with a trained run — "
                f"{'met' if met else 'not met'}.\n")
    return out


def _ensemble_targets_markdown(models: pd.DataFrame, groups: Dict[str, List[str]]) -> str:
    """The model targets seed by seed for every seed ensemble: a conclusion rests on ≥ 3 seeds."""
    cols = ["median_D_r2_vs_mbe", "d_vs_exp298_mae", "d_vs_exp298_rho"]
    by_id = models.set_index("model_id")
    rows = []
    for base, members in groups.items():
        have = [m for m in members if m in by_id.index]
        if len(have) < 2 or not set(cols) <= set(by_id.columns):
            continue
        v = by_id.loc[have, cols]
        every = bool((v["median_D_r2_vs_mbe"] >= R2_TARGET).all()) and len(have) >= 3
        rows.append(f"| {base} | {len(have)} | " + " | ".join(
            f"{' / '.join(cell(x, d) for x in v[c])} (mean {cell(v[c].mean(), d)} ± {cell(v[c].std(ddof=1), d)})"
            for c, d in zip(cols, (2, 1, 2))) + f" | {'yes' if every else 'no'} |")
    if not rows:
        return ""
    return ("\nThe same targets seed by seed, per seed ensemble (a conclusion needs ≥ 3 seeds; R² target met when "
            "every seed meets it):\n\n| ensemble | seeds | medians vs mean bond enthalpies: R² | D_ij vs experiment "
            "(298 K): MAE | ρ | R² target met by every seed (≥ 3) |\n|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n"
            + _ensemble_quantities_markdown(by_id, groups))


ENSEMBLE_QUANTITIES = {"d_vs_exp298": "E3D D_ij", "cut_vs_exp298": "fragment-cut sum D_cut",
                       "relaxed_est_vs_exp298": "relaxed estimate", "frag_vs_exp298": "model's own fragment BDE"}


def _ensemble_quantities_markdown(by_id: pd.DataFrame, groups: Dict[str, List[str]]) -> str:
    """Every bond-energy quantity of a model against experiment, mean ± s.d. over each ensemble's seeds."""
    cols = [f"{k}_{m}" for k in ENSEMBLE_QUANTITIES for m in ("mae", "rho")]
    if not set(cols) <= set(by_id.columns):
        return ""
    rows = []
    for base, members in groups.items():
        v = by_id.loc[[m for m in members if m in by_id.index], cols]
        if len(v) >= 2:
            rows.append(f"| {base} | {len(v)} | " + " | ".join(
                f"{_plus_minus(v[f'{k}_mae'].mean(), v[f'{k}_mae'].std(ddof=1))} / "
                f"{_plus_minus(v[f'{k}_rho'].mean(), v[f'{k}_rho'].std(ddof=1), 2)}" for k in ENSEMBLE_QUANTITIES) + " |")
    return ("\nEvery bond-energy quantity against experiment (298 K) on the headline rows, per seed ensemble: MAE "
            "(kcal/mol) / Spearman ρ, mean ± s.d. over the seeds (docs/E3D_METHOD.md §4c):\n\n| ensemble | seeds | "
            + " | ".join(ENSEMBLE_QUANTITIES.values()) + " |\n|---|---|" + "---|" * len(ENSEMBLE_QUANTITIES) + "\n"
            + "\n".join(rows) + "\n") if rows else ""


def sum_rule_markdown(precomputed: str, models: pd.DataFrame) -> str:
    """The labels' additivity gap of the BDE table's parents and, per model, how much of D_ij's mean miss
    against the rigid labels it accounts for (docs/E3D_METHOD.md §4d)."""
    from .additivity import GAP_COLUMNS

    bde = read_table(precomputed, "bde")
    if GAP_COLUMNS["rigid"] not in bde:
        return ""
    with_gap = bde.dropna(subset=[GAP_COLUMNS["rigid"]])
    methods = []
    for method, rows in with_gap.groupby("reference_method", sort=False):
        parents = rows.drop_duplicates("parent_smiles")
        rigid, relaxed = parents[GAP_COLUMNS["rigid"]], parents[GAP_COLUMNS["relaxed"]]
        methods.append(f"{method}'s over {len(parents)} acyclic parents by G/n_bonds = {cell(rigid.median())} "
                       f"kcal/mol per bond (median; quartiles {cell(rigid.quantile(0.25))} to "
                       f"{cell(rigid.quantile(0.75))}) with rigid fragments and {cell(relaxed.median())} relaxed")
    if not methods:
        return ""
    out = ("\n\nSum rule against additivity: the labelling methods' BDEs of all of a molecule's bonds add up to more "
           "than its atomization energy — " + "; ".join(methods) + " (`python -m e3d precompute`; DFT gaps from "
           "`--additivity-gap B3LYP/def2-SVP`). E3D bond energies add up to the atomization energy, so with the "
           "non-bonded pairs at zero D_ij misses the rigid BDEs by −G/n_bonds on average over each molecule's "
           "bonds, whatever the model learned.")
    rows = models.dropna(subset=["sum_rule_r"]) if "sum_rule_r" in models else models[:0]
    if len(rows):
        out += (" Per model, on its headline rows with an acyclic parent (kcal/mol; D_ij + G/n_bonds uses the labels' "
                "G: a diagnostic of what is left once the sum rule's share is removed, not a prediction; against "
                "experiment, a relaxed BDE, with the labels' relaxed G):\n\n"
                "| model | rows | mean D_ij − rigid labels | mean −G/n_bonds of their parents | the model's own G/n_bonds "
                "| r, row by row | D_ij vs rigid labels: MAE / ρ | D_ij + G/n_bonds vs rigid labels: MAE / ρ "
                "| D_ij + G_relaxed/n_bonds vs experiment (298 K): MAE / ρ |\n"
                "|---|---|---|---|---|---|---|---|---|\n")
        out += "".join(f"| {r.model_id} | {int(r.sum_rule_n)} | {cell(r.d_vs_rigid_mean_error)} | "
                       f"{cell(r.sum_rule_mean_offset)} | {cell(getattr(r, 'model_additivity_gap_mean', np.nan))} | "
                       f"{cell(r.sum_rule_r, 2)} | {_mae_rho(r._asdict(), 'sum_rule_d_vs_rigid')} | "
                       f"{_mae_rho(r._asdict(), 'd_plus_gap_vs_rigid')} | "
                       f"{_mae_rho(r._asdict(), 'd_plus_relaxed_gap_vs_exp298')} |\n" for r in rows.itertuples())
    return out


LABELS_VS_EXPERIMENT = "ref_vs_exp298"  # one row per labelling method and row set, not per ensemble
WITHIN_COLUMNS = {"offset_share": ("offsets' share of the mean-square miss", 2), "mae": ("MAE", 1),
                  "offset_corrected_mae": ("MAE, each type's offset taken out", 1),
                  "offset_corrected_rho": ("ρ, offsets taken out", 2), "type_mean_mae": ("MAE of the type mean alone", 1),
                  "within_rho": ("within-type ρ", 2)}


def within_type_markdown(precomputed: str, models: pd.DataFrame) -> str:
    """Per seed ensemble: each comparison's miss split into per-bond-type offsets and what is left within the
    types (e3d.within_type, docs/E3D_METHOD.md §4j), mean ± s.d. over the seeds."""
    from .ensemble import ensemble_members
    from .family import read_index
    from .within_type import COMPARISON_NAMES, MIN_ROWS

    by_id = models.set_index("model_id")
    groups = ensemble_members(read_index(os.path.join(precomputed, "models")))
    out = ""
    for tag, name in COMPARISON_NAMES.items():
        cols = [f"within_{tag}_{k}" for k in WITHIN_COLUMNS]
        if not set(cols) <= set(by_id.columns):
            return ""
        rows, labels_seen = [], set()
        for base, members in groups.items():
            v = by_id.loc[[m for m in members if m in by_id.index], cols + [f"within_{tag}_n"]].dropna()
            if len(v) < 2:
                continue
            n_rows = int(v[f"within_{tag}_n"].median())
            if tag == LABELS_VS_EXPERIMENT:  # the same for every model of one labelling method on the same rows
                key = (by_id.loc[base, "level_of_theory"], n_rows)
                if key in labels_seen:
                    continue
                labels_seen.add(key)
                rows.append(f"| {key[0]} (rows of {base}) | – | {n_rows} | "
                            + " | ".join(cell(v[c].iloc[0], d) for c, (_, d) in zip(cols, WITHIN_COLUMNS.values())) + " |")
                continue
            rows.append(f"| {base} | {len(v)} | {n_rows} | " + " | ".join(
                _plus_minus(v[c].mean(), v[c].std(ddof=1), d) for c, (_, d) in zip(cols, WITHIN_COLUMNS.values())) + " |")
        if rows:
            out += (f"\n\n{name[0].upper() + name[1:]}, within bond types (headline rows of the types with ≥ {MIN_ROWS} "
                    "rows; kcal/mol, mean ± s.d. over each ensemble's seeds; an offset is taken from the type's other "
                    "rows, leave one out):\n\n| ensemble | seeds | rows | " + " | ".join(n for n, _ in WITHIN_COLUMNS.values())
                    + " |\n|---|---|---|" + "---|" * len(WITHIN_COLUMNS) + "\n" + "\n".join(rows) + "\n")
    out += _within_type_seed_mean_markdown(precomputed, groups)
    return (("\n\nWhat a learned bond energy knows within a bond type (`e3d.within_type`, docs/E3D_METHOD.md §4j): "
             "its miss split into one offset per bond type (how the model shares energy between types, which energies "
             "pin loosely) and the rest. With each type's offset taken out, a bond energy that follows the environment "
             "within its type beats the type's mean alone; the labels' own BDEs show what the reference allows.") + out
            if out else "")


def _within_type_seed_mean_markdown(precomputed: str, groups: Dict[str, List[str]]) -> str:
    """D_ij averaged over each ensemble's seeds, bond by bond, split like one seed (e3d.within_type.seed_mean_split)."""
    from .within_type import seed_mean_split

    bde = read_table(precomputed, "bde")
    if not len(bde):
        return ""
    rows = []
    for base, members in groups.items():
        cells, n = [], None
        for tag in ("d_vs_exp298", "d_vs_rigid"):
            split = seed_mean_split(bde, members, tag)
            one, mean = split["members"], split["seed_mean"]
            n = n or mean["n"]
            cells += [f"{cell(one[k], d)} → {cell(mean[k], d)}" for k, d in
                      (("mae", 1), ("offset_corrected_mae", 1), ("within_rho", 2))]
        if n:
            rows.append(f"| {base} | {len(members)} | {n} | " + " | ".join(cells) + " |")
    if not rows:
        return ""
    return ("\n\nAveraging the seeds, within bond types: D_ij averaged over an ensemble's seeds bond by bond, against "
            "one seed (the seeds' mean), on the headline rows every seed shares (kcal/mol; offsets taken out as above):"
            "\n\n| ensemble | seeds | rows | vs experiment (298 K): MAE | MAE, offsets taken out | within-type ρ | vs the "
            "labels' rigid BDE: MAE | MAE, offsets taken out | within-type ρ |\n|---|---|---|---|---|---|---|---|---|\n"
            + "\n".join(rows) + "\n")


def inheritance_markdown(precomputed: str) -> str:
    """What each fine-tune or Δ sum keeps of its parent's edge partition (e3d.inheritance, docs/E3D_METHOD.md §4h–i)."""
    from .family import shipped_cards
    from .inheritance import inheritance_table, parents_from_cards

    bde = read_table(precomputed, "bde")
    table = inheritance_table(bde, parents_from_cards(shipped_cards(os.path.join(precomputed, "models")))) \
        if len(bde) else pd.DataFrame()
    if table.empty:
        return ""
    closer = table["d_vs_parent_labels_rigid_rho"] > table["d_vs_own_labels_rigid_rho"]
    out = ("\n\nWhat a model built on another keeps of its partition (`e3d.inheritance`, docs/E3D_METHOD.md §4h–i; "
           "a fine-tune's parent is the model it started from, a Δ sum's the GFN2-xTB model it adds the Δ model to; "
           "the model's headline rows, MAE kcal/mol / Spearman ρ). D_ij of {n} models against their parent's D_ij, "
           "the parent's labels' rigid BDE and their own labels' rigid BDE; their own rigid BDE (energy differences) "
           "against their labels'; the parent's D_ij against its labels on the same rows. D_ij ranks bonds closer to "
           "the parent's labels than to its own in {k} of {n}; the models' own rigid BDEs reach ρ {own}, their "
           "D_ij {d}; the two labellers' rigid BDEs agree at ρ {labels} on these rows, and against experiment "
           "(298 K) the own labels' rigid BDEs rank the bonds at ρ {own_exp}, the parents' labels' at ρ {parent_exp}:\n\n"
           "| model | parent | rows | D_ij vs parent's D_ij | D_ij vs parent's labels (rigid) | D_ij vs own labels "
           "(rigid) | own rigid BDE vs own labels (rigid) | parent's D_ij vs its labels (rigid) | D_ij − parent's vs "
           "own labels − parent's (rigid) |\n"
           "|---|---|---|---|---|---|---|---|---|\n").format(
        n=len(table), k=int(closer.sum()), own=_rho_range(table["own_rigid_vs_own_labels_rigid_rho"]),
        d=_rho_range(table["d_vs_own_labels_rigid_rho"]), labels=_rho_range(table["own_labels_vs_parent_labels_rigid_rho"]),
        own_exp=_rho_range(table["own_labels_rigid_vs_experiment_rho"]),
        parent_exp=_rho_range(table["parent_labels_rigid_vs_experiment_rho"]))
    keys = ("d_vs_parent_d", "d_vs_parent_labels_rigid", "d_vs_own_labels_rigid", "own_rigid_vs_own_labels_rigid",
            "parent_d_vs_parent_labels_rigid", "d_shift_vs_labels_shift")
    out += "".join(f"| {r['model_id']} | {r['parent_id']} ({r['parent_labels']}) | {r['n']} | "
                   + " | ".join(_mae_rho(r, k) for k in keys) + " |\n" for r in table.to_dict("records"))
    return out


def budget_markdown(precomputed: str) -> str:
    """The error budget of D_ij against the labels' rigid BDE per bond type (docs/E3D_METHOD.md §4c), for
    every model whose BDE table has the labels' rigid BDEs."""
    from .bde import error_budget_by_type, headline_mask

    bde = read_table(precomputed, "bde")
    if "model_rigid_bde_kcal_mol" not in bde:
        return ""
    out = ""
    for model_id, rows in bde.groupby("model_id", sort=False):
        table = error_budget_by_type(rows, headline_mask(rows))
        if table.empty:
            continue
        out += (f"\n\nError budget of `{model_id}` on the common organic rows of bond types it saw (parents of every "
                "size, also beyond its training domain; mean per bond type, kcal/mol): D_ij − rigid "
                "labels = accuracy (model's rigid BDE − labels') + locality (cut − model's rigid BDE; its part on the "
                "radical centres' own pairs beside it) + partition (D_ij − cut); beside them: what the sum rule "
                "alone makes D_ij − rigid labels, −G/n_bonds of the parents (acyclic parents, docs/E3D_METHOD.md "
                "§4d), and the relaxed estimate's relaxation term (labels' − the model's fragment relaxation "
                "energy; < 0: relaxes too far; §4c):\n\n| bond type | n | D_ij − rigid labels | accuracy | locality "
                "| at radical centres | partition | sum rule −G/n | relaxation term |\n"
                "|---|---|---|---|---|---|---|---|---|\n")
        out += "".join(f"| {r.bond_type} | {r.n} | {cell(r.total)} | {cell(r.accuracy)} | {cell(r.locality)} | "
                       f"{cell(r.locality_at_centres)} | {cell(r.partition)} | {cell(r.sum_rule_offset)} | "
                       f"{cell(r.relaxation)} |\n" for r in table.itertuples())
    return out


def like_with_like_markdown(models: pd.DataFrame) -> str:
    """Headline rows, like with like (docs/E3D_METHOD.md §4c): D_ij and the fragment cut against the
    labelling method's rigid BDE, the relaxed estimate against its relaxed BDE."""
    if "headline_n" not in models:
        return ""
    out = ("\nLike with like, on the headline rows (common organic bond types the model saw, in its domain; "
           "MAE kcal/mol / Spearman ρ; rigid and relaxed BDEs of each model's own labelling method):\n\n"
           "| model | labels | bonds | D_ij vs rigid labels | cut vs rigid labels | relaxed estimate vs relaxed labels "
           "| D_ij vs exp. (298 K) | labels vs exp. (298 K) | baseline: labels' bond-additive fit vs rigid labels "
           "|\n|---|---|---|---|---|---|---|---|---|\n")
    for _, r in models.iterrows():
        out += f"| {r.model_id} | {r.level_of_theory} | {int(r.headline_n)} | " + " | ".join(
            _mae_rho(r, k) for k in ("d_vs_rigid", "cut_vs_rigid", "relaxed_est_vs_relaxed", "d_vs_exp298",
                                     "ref_vs_exp298", "fit_vs_rigid")) + " |\n"
    return out


def _split_note(run) -> str:
    split = getattr(run, "split", "frames")
    return "" if split in ("frames", None) or split != split else f"; split {split}"


def study_markdown(precomputed: str) -> str:
    """The emergence study table (precomputed/study/emergence.parquet), if it has been run."""
    t = read_table(precomputed, "study/emergence")
    if t.empty:
        return ""
    out = ("\nEmergence study (`python -m e3d study configs/study/emergence.yaml`; GFN2-xTB labels, every BDE row "
           "held out; MAE kcal/mol / ρ on the headline rows; error budget: mean |term| in kcal/mol, "
           "docs/E3D_METHOD.md §4c; test: the evaluation corpus's molecules; in sample: ~2,000 frames of the run's "
           "own data file; held-out QM9: molecules of QM9's test split (the study's `data.test_qm9`); held-out "
           "energy bias: mean signed model − label energy per frame, relaxed parents / radicals, kcal/mol):\n\n"
           "| run | fine-tuned from | r_max (Å) | kinds | QM9 molecules | frames | seed | epochs | steps | converged "
           "| test E MAE (meV/atom) | E MAE (meV/atom): in sample / held-out QM9 | test E bias: parents / radicals "
           "| D_ij vs rigid | labels' additive fit vs rigid | cut vs rigid "
           "| relaxed est. vs relaxed (relaxation term, mean: < 0 relaxes too far) | D_ij vs exp. (298 K) "
           "| medians vs MBE R² "
           "| medians vs labels' additive fit: R² / MAE "
           "| training (h) | error budget: accuracy / locality (at radical centres) / partition "
           "| D_ij − rigid labels: mean / sum rule −G/n | D_ij + G/n vs rigid |\n"
           "|" + "---|" * 24 + "\n")
    for _, r in t.iterrows():
        out += (f"| {r.run_id} | {getattr(r, 'init_from', '') or '–'} | {r.r_max} | {r.kinds}{_split_note(r)} | {r.n_qm9} | "
                f"{r.n_frames} | {r.seed} | {r.epochs} | {getattr(r, 'steps_done', '–')} | "
                f"{'yes' if r.converged else 'no'} | {cell(r.test_energy_mae_meV_atom)} | "
                f"{cell(getattr(r, 'train_energy_mae_meV_atom', float('nan')))} / "
                f"{cell(getattr(r, 'test_qm9_energy_mae_meV_atom', float('nan')))} | "
                + " / ".join(cell(getattr(r, f"test_bias_{k}_kcal_mol", float("nan"))) for k in ("eq", "radical"))
                + " | "
                + " | ".join(_mae_rho(r, k) for k in ("d_vs_rigid", "fit_vs_rigid", "cut_vs_rigid"))
                + f" | {_mae_rho(r, 'relaxed_est_vs_relaxed')} "
                + f"({cell(getattr(r, 'relaxation_term_mean', float('nan')))})"
                + f" | {_mae_rho(r, 'd_vs_exp298')}"
                + f" | {cell(r.median_D_r2_vs_mbe, 2)} | {cell(getattr(r, 'median_D_r2_vs_baseline', float('nan')), 2)}"
                + f" / {cell(getattr(r, 'median_D_mae_vs_baseline', float('nan')))} | {cell(r.training_time_h, 2)} | "
                + f"{cell(r.budget_accuracy_mae)} / {cell(r.budget_locality_mae)} "
                + f"({cell(getattr(r, 'budget_locality_at_centres_mae', float('nan')))}) / {cell(r.budget_partition_mae)}"
                + f" | {cell(getattr(r, 'd_vs_rigid_mean_error', float('nan')))} / "
                + f"{cell(getattr(r, 'sum_rule_mean_offset', float('nan')))} | {_mae_rho(r, 'd_plus_gap_vs_rigid')} |\n")
    out += accuracy_markdown(t) + stop_rule_markdown(read_table(precomputed, "study/curves"))
    own = t[t["config"].fillna("").astype(bool)] if "config" in t else t[:0]
    for config, runs in own.groupby("config"):
        out += f"\nTrained with their own config, `{config}` (not the study's base config): {', '.join(runs['run_id'])}.\n"
    out += configurations_markdown(read_table(precomputed, "study/configurations"))
    sp = read_table(precomputed, "study/seed_spread")
    if len(sp):
        out += "\nSeed spread of D_ij in the study (kcal/mol, evaluation-corpus bonds):\n\n"
        out += "| configuration | seeds | bond type | n | median σ | 90th pct σ |\n|---|---|---|---|---|---|\n"
        for _, r in sp.sort_values(["group", "n"], ascending=[True, False]).iterrows():
            out += f"| {r.group} | {r.n_seeds} | {r.bond_type} | {r.n} | {cell(r.median_std)} | {cell(r.p90_std)} |\n"
    out += quantity_spread_markdown(read_table(precomputed, "study/quantity_spread"), "configuration")
    out += seed_mean_markdown(read_table(precomputed, "study/seed_mean"))
    return out + scaling_markdown(precomputed)


def _sigma_worst(r) -> str:
    """'C–C 6.2': a configuration's worst bond type by seed σ(D_ij), or why there is none."""
    if isinstance(r.sigma_worst_type, str) and r.sigma_worst_type:
        return f"{r.sigma_worst_type} {cell(r.sigma_worst)}"
    return "– (one seed)"


CONFIGURATION_CELLS = (("epochs", 0), ("test_energy_mae_meV_atom", 1), ("d_vs_rigid_mae", 1), ("d_vs_rigid_rho", 2),
                       ("d_plus_gap_vs_rigid_mae", 1), ("cut_vs_rigid_mae", 1), ("relaxed_est_vs_relaxed_mae", 1),
                       ("relaxation_term_mean", 1), ("d_vs_exp298_mae", 1),
                       ("median_D_r2_vs_mbe", 2))  # (configurations column, decimals)


def configurations_markdown(table: pd.DataFrame) -> str:
    """The study by configuration (precomputed/study/configurations.parquet): mean ± sd over the seeds."""
    if table.empty:
        return ""
    out = ("\nThe study by configuration (`e3d.study.configuration_table`; mean ± sd over the seeds trained alike; "
           "MAE kcal/mol on the headline rows; G/n: the labels' additivity gap per bond of the bond's parent, "
           "docs/E3D_METHOD.md §4d — a diagnostic, what is left once the sum rule's share is removed; "
           "seed σ(D_ij): worst bond type with ≥ 5 held-out bonds):\n\n"
           "| configuration | r_max (Å) | kinds | QM9 molecules | seeds | converged | passes | held-out E MAE "
           "(meV/atom) | D_ij vs rigid: MAE | ρ | D_ij + G/n vs rigid: MAE | cut vs rigid: MAE | relaxed est. vs "
           "relaxed: MAE | relaxation term | D_ij vs exp. (298 K): MAE | medians vs MBE R² | seed σ: worst type | "
           "training (h) |\n"
           "|" + "---|" * 18 + "\n")
    for _, r in table.iterrows():
        out += (f"| {r.group} | {r.r_max} | {r.kinds} | {r.n_qm9:,} | {r.seeds} | {r.converged} of {r.seeds} | "
                + " | ".join(_mean_sd(r, c, digits) for c, digits in CONFIGURATION_CELLS)
                + f" | {_sigma_worst(r)} | {_mean_sd(r, 'training_time_h', 2)} |\n")
    return out


def seed_mean_markdown(table: pd.DataFrame) -> str:
    """The study's seed-mean D_ij against the labels' rigid BDE (:func:`e3d.ensemble.seed_mean_parity`)."""
    from .study import SEED_MEAN_COLUMNS

    if table.empty:
        return ""
    cols = [c for c in SEED_MEAN_COLUMNS if c in table]
    out = ("\nAveraging the seeds: D_ij averaged bond by bond over a configuration's seeds against the labels' rigid "
           "BDE, beside the seeds one by one on the same headline rows — what averages out is each seed's own "
           "split of the energy, what is left every seed shares:\n\n"
           "| " + " | ".join(SEED_MEAN_COLUMNS[c] for c in cols) + " |\n|" + "---|" * len(cols) + "\n")
    for _, r in table.iterrows():
        out += "| " + " | ".join(str(int(r[c])) if c in ("n_seeds", "n") else
                                 (str(r[c]) if c == "group" else cell(r[c], 2 if c.endswith("rho") else 1))
                                 for c in cols) + " |\n"
    return out


def accuracy_markdown(table: pd.DataFrame) -> str:
    """One line: the error budget's accuracy term against the held-out energy error over the study's runs."""
    from .study import accuracy_vs_energy_error

    fit = accuracy_vs_energy_error(table)
    if not np.isfinite(fit["r"]):
        return ""
    return (f"\nThe accuracy term follows the held-out energy error (all {fit['n']} runs above): Pearson r = "
            f"{fit['r']:.2f}, accuracy ≈ {fit['slope']:.2f} × (held-out E MAE, meV/atom) "
            f"{'+' if fit['intercept'] >= 0 else '−'} {abs(fit['intercept']):.1f} kcal/mol; the line falls to "
            f"{fit['target']:g} kcal/mol (the size of the D_ij MAE target) at {cell(fit['needed_meV_atom'])} meV/atom — the best run "
            f"so far has {cell(fit['best_meV_atom'])}.\n")


def stop_rule_markdown(curves: pd.DataFrame) -> str:
    """One line: what the second learning-rate cut bought in the study's runs (why the stop rule waits for
    it to act; e3d.convergence)."""
    from .convergence import CONVERGED_REL_CHANGE, gain_after_cut

    if curves.empty:
        return ""
    gain = 100 * curves.groupby("run_id", sort=False).apply(gain_after_cut, include_groups=False).dropna()
    if gain.empty:
        return ""
    return (f"\nWhat the second learning-rate cut bought (best validation loss over the 10 validations from the cut "
            f"on against the best before it; {len(gain)} runs with 10 validations after it): median {gain.median():.1f} %, "
            f"{gain.min():.1f}–{gain.max():.1f} % against the convergence test's {100 * CONVERGED_REL_CHANGE:g} % tolerance — "
            f"so the test (which also stops runs) judges a run only 10 validations after its second cut, with this gain "
            f"inside the window it judges (since session 17).\n")


def _plus_minus(mean, sd, digits: int = 1) -> str:
    return cell(mean, digits) + (f" ± {cell(sd, digits)}" if np.isfinite(sd) else "")


def _mean_sd(r, col: str, digits: int = 1) -> str:
    """'mean ± sd' of a configuration row's ``{col}_mean`` / ``{col}_std`` ('–' for a column the table lacks)."""
    return _plus_minus(r.get(f"{col}_mean", np.nan), r.get(f"{col}_std", np.nan), digits)


def scaling_markdown(precomputed: str) -> str:
    """The study's scaling series (precomputed/study/scaling.parquet): BDE error and seed σ against the
    number of training molecules, mean ± standard deviation over the seeds trained alike."""
    t = read_table(precomputed, "study/scaling")
    if t.empty:
        return ""
    out = ("\nScaling with training molecules (study scaling series: the same recipe on nested QM9 sets; mean ± sd "
           "over the seeds trained alike; seed σ: worst bond type with ≥ 5 held-out bonds / median over types, "
           "kcal/mol):\n\n| QM9 molecules | frames | seeds | converged | fewest steps | D_ij vs rigid: MAE | ρ "
           "| cut vs rigid: MAE | held-out E MAE (meV/atom) | E MAE (meV/atom): in sample | held-out QM9 "
           "| held-out radicals: mean signed error (kcal/mol) | seed σ: worst type | median σ |\n"
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    for _, r in t.iterrows():
        out += (f"| {r.n_qm9:,} | {r.n_frames:,} | {r.seeds} | {r.converged} of {r.seeds} | {r.steps_done_min:,} | "
                f"{_mean_sd(r, 'd_vs_rigid_mae')} | {_mean_sd(r, 'd_vs_rigid_rho', 2)} | {_mean_sd(r, 'cut_vs_rigid_mae')} "
                f"| {_mean_sd(r, 'test_energy_mae_meV_atom')} | {_mean_sd(r, 'train_energy_mae_meV_atom')} "
                f"| {_mean_sd(r, 'test_qm9_energy_mae_meV_atom')} "
                f"| {_mean_sd(r, 'test_bias_radical_kcal_mol')} | {_sigma_worst(r)} "
                f"| {cell(r.sigma_median)} |\n")
    return out


def domain_markdown(models: pd.DataFrame) -> str:
    """BDE errors on the bonds whose parent is no larger than the model's largest training molecule."""
    if "bde_in_domain_n" not in models:
        return ""
    small = models[models["bde_in_domain_n"] < models["bde_n"]]
    if small.empty:
        return ""
    rows = [f"| {r.model_id} | {r.level_of_theory} | {r.bde_in_domain_n} of {r.bde_n} | "
            f"{cell(r.bde_298_mae_vs_exp_in_domain)} | {cell(r.bde_mae_vs_reference_in_domain)} | "
            f"{cell(r.reference_bde_298_mae_vs_exp_in_domain)} |" for r in small.itertuples()]
    return ("\n\nWithin the training domain (bonds whose parent has no more heavy atoms than the model's largest "
            "training molecule), for the models trained on small molecules:\n\n"
            "| model | labels | bonds | BDE MAE vs exp. (298 K) | BDE MAE vs labels | labels vs exp. (298 K) |\n"
            "|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n")


def reactivity_markdown(models: pd.DataFrame) -> str:
    """Spearman ρ across models between entropy H and each reactivity measure."""
    rows = []
    for col, name in REACTIVITY_MEASURES.items():
        rho, n = entropy_reactivity(models, col)
        if n >= 3:
            rows.append(f"| {name} | {n} | {cell(rho, 2)} |")
    if not rows:
        return ""
    return ("\n\nReactivity: Spearman ρ across models between entropy H and each measure:\n\n"
            "| measure | models | ρ(H, measure) |\n|---|---|---|\n" + "\n".join(rows) + "\n")


def ensemble_markdown(precomputed: str) -> str:
    """Seed-ensemble spread of D_ij per bond type and of the learned BDEs."""
    from .ensemble import spread_by_quantity, spread_by_type

    bonds = read_table(precomputed, "ensemble_bonds")
    if bonds.empty:
        return ""
    bde = read_table(precomputed, "ensemble_bde")
    out = ""
    for base, group in bonds.groupby("ensemble"):
        members = group["members"].iloc[0].replace(",", ", ")
        out += (f"\n\nSeed ensemble `{base}` ({members}): spread σ of D_ij over the same geometries "
                f"(kcal/mol; {len(group)} held-out corpus bonds, median σ {group['D_std'].median():.1f}")
        b = bde[bde["ensemble"] == base] if len(bde) else bde
        if len(b):
            out += f"; learned BDE of the {len(b)} experimental bonds: median σ {b['bde_std'].median():.1f}"
        out += "):\n\n| bond type | n | median σ | 90th pct σ |\n|---|---|---|---|\n"
        for r in spread_by_type(group).sort_values("n", ascending=False).head(12).itertuples():
            out += f"| {r.bond_type} | {r.n} | {cell(r.median_std)} | {cell(r.p90_std)} |\n"
    if len(bde):
        out += quantity_spread_markdown(pd.concat(
            [spread_by_quantity(b).assign(group=base, n_seeds=b["n_members"].max())
             for base, b in bde.groupby("ensemble")], ignore_index=True), "seed ensemble")
    return out


def quantity_spread_markdown(spread: pd.DataFrame, what: str) -> str:
    """What seeds agree on (:func:`e3d.ensemble.quantity_spread_wide`): one row per group (``what``)."""
    from .ensemble import quantity_spread_wide

    wide = quantity_spread_wide(spread)
    if wide.empty:
        return ""
    quantities = list(wide.columns[3:])
    out = (f"\nWhat the seeds agree on, per {what}: median σ over the seeds (kcal/mol) on the experimental bonds of "
           "the headline set. D_ij and the fragment-cut sum depend on how a model splits its energy into edges; "
           "its own BDEs (energy differences of parent and fragments) only on its energy:\n\n"
           f"| {what} | seeds | bonds | " + " | ".join(quantities) + " |\n|" + "---|" * (3 + len(quantities)) + "\n")
    for r in wide.itertuples(index=False):
        out += f"| {r[0]} | {int(r[1])} | {int(r[2])} | " + " | ".join(cell(v) for v in r[3:]) + " |\n"
    return out
