"""lora_ref.spectra: energy, Eckart-Young error, LoRA's subspace similarity."""

import pytest
import torch

from lora_ref.spectra import (
    best_rank_r,
    eckart_young_error,
    energy_captured,
    gaussian_like,
    projection_norm,
    subspace_similarity,
    top_singular_vectors,
)


def low_rank(d: int = 12, k: int = 9, r: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    B = torch.randn(d, r, generator=g, dtype=torch.float64)
    A = torch.randn(r, k, generator=g, dtype=torch.float64)
    return B @ A


def test_energy_is_monotone_and_ends_at_one():
    energy = energy_captured(
        torch.randn(10, 7, generator=torch.Generator().manual_seed(1))
    )
    assert energy.shape == (7,)
    assert torch.all(energy[1:] >= energy[:-1])
    assert energy[-1].item() == pytest.approx(1.0, abs=1e-12)


def test_a_rank_3_matrix_has_all_its_energy_in_3_directions():
    energy = energy_captured(low_rank(r=3))
    assert energy[1].item() < 1 - 1e-6
    assert energy[2].item() == pytest.approx(1.0, abs=1e-12)


def test_eckart_young_error_equals_the_error_of_the_truncated_svd():
    W = torch.randn(
        8, 6, generator=torch.Generator().manual_seed(2), dtype=torch.float64
    )
    error = eckart_young_error(W)
    for r in range(1, 7):
        measured = (W - best_rank_r(W, r)).norm() / W.norm()
        assert error[r - 1].item() == pytest.approx(measured.item(), abs=1e-10)


def test_gaussian_twin_has_the_same_shape_and_norm_and_a_flatter_spectrum():
    W = low_rank(d=40, k=30, r=2)
    G = gaussian_like(W, torch.Generator().manual_seed(0))
    assert G.shape == W.shape
    assert G.norm().item() == pytest.approx(W.norm().item())
    assert energy_captured(G)[1] < 0.5 < energy_captured(W)[1]


def test_subspace_similarity_of_identical_subspaces_is_one():
    U = top_singular_vectors(low_rank(), 3)
    assert subspace_similarity(U, U, 3, 3) == pytest.approx(1.0)
    # a subspace contained in the other: still 1 (normalised by min(i, j))
    assert subspace_similarity(U, U, 1, 3) == pytest.approx(1.0)


def test_subspace_similarity_of_orthogonal_subspaces_is_zero():
    eye = torch.eye(6, dtype=torch.float64)
    assert subspace_similarity(eye[:, :3], eye[:, 3:], 3, 3) == pytest.approx(0.0)


def test_subspace_similarity_does_not_depend_on_the_basis_chosen():
    g = torch.Generator().manual_seed(3)
    U, _ = torch.linalg.qr(torch.randn(10, 4, generator=g, dtype=torch.float64))
    R, _ = torch.linalg.qr(torch.randn(4, 4, generator=g, dtype=torch.float64))
    V = torch.linalg.qr(torch.randn(10, 4, generator=g, dtype=torch.float64))[0]
    assert subspace_similarity(U, V, 4, 4) == pytest.approx(
        subspace_similarity(U @ R, V, 4, 4)
    )


def test_projection_onto_the_top_directions_of_w_recovers_their_singular_values():
    W = torch.randn(
        7, 5, generator=torch.Generator().manual_seed(4), dtype=torch.float64
    )
    S = torch.linalg.svdvals(W)
    U, V = top_singular_vectors(W, 2), top_singular_vectors(W, 2, side="right")
    assert projection_norm(W, U, V) == pytest.approx(S[:2].norm().item())


@pytest.mark.parametrize(
    "call",
    [
        lambda: energy_captured(torch.zeros(3, 3)),
        lambda: energy_captured(torch.ones(3)),
        lambda: best_rank_r(torch.ones(3, 3), 4),
        lambda: top_singular_vectors(torch.ones(3, 3), 1, side="up"),
        lambda: subspace_similarity(torch.eye(3), torch.eye(4), 1, 1),
        lambda: subspace_similarity(torch.eye(3), torch.eye(3), 0, 1),
        lambda: projection_norm(
            torch.ones(3, 2), torch.eye(3)[:, :1], torch.eye(3)[:, :1]
        ),
    ],
)
def test_bad_input_raises_a_value_error(call):
    with pytest.raises(ValueError):
        call()
