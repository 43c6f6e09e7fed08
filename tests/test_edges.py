"""Edge and bond energies from a real (tiny) Allegro model: sum rule, batching, symmetry, typing."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from e3d.edges import edge_energies, pack_batches
from e3d.errors import InputError
from e3d.molecule import from_smiles
from e3d.calculator import E3DCalculator
from e3d.pairs import bond_table, decomposability, pair_table
from e3d.units import KCAL_PER_EV

SMILES = ["CCO", "c1ccccc1", "CC#N", "O=C(O)c1ccccc1", "CS(=O)C", "ClCCF", "N"]


@pytest.fixture(scope="module")
def molecules():
    return [from_smiles(s) for s in SMILES]


def test_sum_rule_each_molecule(tiny_model, molecules):
    for r in edge_energies(tiny_model, molecules):
        assert abs(r.residual) < 1e-6
        # E = Σ e + Σ μ against the energy of a separate forward pass (ASE calculator, forces on)
        atoms = r.molecule.to_ase()
        atoms.calc = E3DCalculator(tiny_model)
        assert atoms.get_potential_energy() == pytest.approx(r.edge_sum + r.shift_sum, abs=1e-6)
        # μ are the isolated atoms, so Σe is minus the atomisation energy: negative
        assert r.edge_sum < 0


def test_batched_equals_one_by_one(tiny_model, molecules):
    batched = edge_energies(tiny_model, molecules)
    assert len(list(pack_batches(molecules, 4096))) == 1  # one forward pass
    for mol, rb in zip(molecules, batched):
        (r1,) = edge_energies(tiny_model, [mol])
        assert rb.total_energy == pytest.approx(r1.total_energy, abs=1e-9)
        np.testing.assert_allclose(rb.edges["e_ij"], r1.edges["e_ij"], atol=1e-10)
        np.testing.assert_array_equal(rb.edges[["i", "j"]], r1.edges[["i", "j"]])


def test_small_batches_equal_one_batch(tiny_model, molecules):
    big = edge_energies(tiny_model, molecules)
    small = edge_energies(tiny_model, molecules, max_batch_atoms=20)
    for a, b in zip(big, small):
        np.testing.assert_allclose(a.edges["e_ij"], b.edges["e_ij"], atol=1e-10)


def test_rotation_translation_invariance(tiny_model):
    mol = from_smiles("CC(=O)NC")
    rot = Rotation.from_euler("xyz", [33, -71, 140], degrees=True).as_matrix()
    moved = mol.with_positions(mol.positions @ rot.T + np.array([3.1, -7.2, 0.4]))
    d0 = pair_table(edge_energies(tiny_model, [mol])[0])
    d1 = pair_table(edge_energies(tiny_model, [moved])[0])
    np.testing.assert_array_equal(d0[["i", "j"]], d1[["i", "j"]])
    np.testing.assert_allclose(d0["D_ij"], d1["D_ij"], atol=1e-8)


def test_pair_table_definitions(tiny_model):
    (r,) = edge_energies(tiny_model, [from_smiles("CCO")])
    pairs = pair_table(r)
    assert (pairs["i"] < pairs["j"]).all()
    # ε_ij = e_ij + e_ji, D = −ε in kcal/mol (the directed parts are in the table too)
    e = r.edges.set_index(["i", "j"])["e_ij"]
    row = pairs.iloc[0]
    i, j = int(row.i), int(row.j)
    assert row.e_ij == pytest.approx(e[(i, j)]) and row.e_ji == pytest.approx(e[(j, i)])
    assert row.eps_ij == pytest.approx(e[(i, j)] + e[(j, i)], abs=1e-12)
    assert row.D_ij == pytest.approx(-row.eps_ij * KCAL_PER_EV)
    # pairs hold all the edge energy
    assert pairs["eps_ij"].sum() == pytest.approx(r.edge_sum, abs=1e-9)
    assert pairs["bonded"].sum() == 8
    assert 0 < decomposability(pairs) <= 1.5


def test_bond_typing_ethanol(tiny_model):
    (r,) = edge_energies(tiny_model, [from_smiles("CCO")])
    bonds = bond_table(r)
    assert sorted(bonds["bond_type"]) == sorted(["C-C", "C-O", "O-H"] + ["C-H"] * 5)
    assert set(bonds["bond_label"]) == {"C(sp3)-C(sp3)", "C(sp3)-O(sp3)", "O(sp3)-H", "C(sp3)-H"}
    assert list(bonds["D_ij"]) == sorted(bonds["D_ij"])  # weakest first


def test_bond_typing_benzene_aromatic(tiny_model):
    (r,) = edge_energies(tiny_model, [from_smiles("c1ccccc1")])
    bonds = bond_table(r)
    cc = bonds[bonds["bond_type"] == "C:C"]
    assert len(cc) == 6 and cc["aromatic"].all() and (cc["bond_order"] == 1.5).all()
    # symmetry: all six ring bonds carry the same energy
    assert np.ptp(cc["D_ij"]) < 0.05


def test_bond_typing_acetonitrile_triple(tiny_model):
    (r,) = edge_energies(tiny_model, [from_smiles("CC#N")])
    bonds = bond_table(r)
    cn = bonds[bonds["bond_type"] == "C#N"]
    assert len(cn) == 1 and cn["bond_order"].iloc[0] == 3.0
    assert cn["bond_label"].iloc[0] == "C(sp)#N"


def test_unsupported_element_in_model(tiny_model):
    with pytest.raises(InputError, match="Br not supported by this model"):
        edge_energies(tiny_model, [from_smiles("CBr")])


def test_too_many_atoms_for_model(tiny_model):
    with pytest.raises(InputError, match="more than the limit"):
        edge_energies(tiny_model, [from_smiles("CCCCCC")], max_atoms=10)


def test_sdf_export_round_trip(tiny_model):
    from rdkit import Chem

    from e3d.export import sdf_with_energies

    mol = from_smiles("CCO", name="ethanol")
    (r,) = edge_energies(tiny_model, [mol])
    text = sdf_with_energies([(mol, pair_table(r), r.total_energy, r.residual, "tiny")])
    supplier = Chem.SDMolSupplier()
    supplier.SetData(text, removeHs=False)
    back = supplier[0]
    assert back.GetProp("_Name") == "ethanol" and back.GetProp("E3D_MODEL") == "tiny"
    assert back.GetDoubleProp("E3D_TOTAL_ENERGY_EV") == pytest.approx(r.total_energy)
    lines = back.GetProp("E3D_BOND_ENERGIES").splitlines()
    assert len(lines) == 8 and back.GetNumAtoms() == 9


def test_neighbor_list_matches_nequip(tiny_model):
    import torch
    from nequip.data import AtomicDataDict, compute_neighborlist_

    from e3d.edges import atoms_to_data

    for smi in ("CCO", "c1ccccc1C(=O)NCC", "ClCCCCCCCCF"):
        mol = from_smiles(smi)
        mine = atoms_to_data(mol.symbols, mol.positions, tiny_model)[AtomicDataDict.EDGE_INDEX_KEY].numpy()
        ref = compute_neighborlist_({AtomicDataDict.POSITIONS_KEY: torch.as_tensor(mol.positions),
                                     AtomicDataDict.PBC_KEY: torch.zeros((1, 3), dtype=torch.bool)},
                                    tiny_model.r_max)[AtomicDataDict.EDGE_INDEX_KEY].numpy()
        assert sorted(map(tuple, mine.T)) == sorted(map(tuple, ref.T))


def test_batch_to_data_is_nequips_batch_of_single_frames(tiny_model, monkeypatch):
    """The vectorised batch (frames grouped by atom count, distance arrays in chunks) is the dict nequip's
    batched_from_list makes of the frames one by one: same keys, same values, edges in the same order —
    also when a size group is cut into several chunks and with a lone atom (no edges)."""
    import torch
    from nequip.data import AtomicDataDict

    import e3d.edges as edges

    mols = [from_smiles(s) for s in ("CCO", "C", "OCC", "c1ccccc1C(=O)NCC", "CC", "[Cl]", "CCO", "ClCCCCCCCCF")]
    frames = [(m.symbols, m.positions) for m in mols]
    ref = AtomicDataDict.batched_from_list([edges.atoms_to_data(s, p, tiny_model) for s, p in frames])
    for chunk in (edges.DENSE_CHUNK, 1):  # 1: one frame per distance array
        monkeypatch.setattr(edges, "DENSE_CHUNK", chunk)
        mine = edges.batch_to_data(frames, tiny_model)
        assert mine.keys() == ref.keys()
        for k in ref:
            assert mine[k].dtype == ref[k].dtype and torch.equal(mine[k], ref[k]), k


def test_the_same_input_twice_gives_bit_identical_energies(tiny_model):
    import numpy as np

    import e3d

    runs = [e3d.edge_energies(tiny_model, [e3d.from_smiles(s) for s in ("CCO", "c1ccccc1O", "CC(=O)N")])
            for _ in range(2)]
    for a, b in zip(*runs):
        assert a.total_energy == b.total_energy
        assert np.array_equal(e3d.pair_table(a)["eps_ij"].to_numpy(), e3d.pair_table(b)["eps_ij"].to_numpy())
