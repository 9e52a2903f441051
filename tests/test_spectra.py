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


def test_eckart_young_error_of_a_diagonal_matrix_by_hand():
    # singular values 3, 2, 1: dropping the last 3 - r leaves sqrt(Σ σi²) / sqrt(14)
    W = torch.diag(torch.tensor([3.0, 2.0, 1.0], dtype=torch.float64))
    expected = [(5 / 14) ** 0.5, (1 / 14) ** 0.5, 0.0]
    assert eckart_young_error(W).tolist() == pytest.approx(expected, abs=1e-12)


def test_eckart_young_error_equals_the_discarded_eigenvalues_of_w_transpose_w():
    # an independent route: no SVD, the eigenvalues of WᵀW are the σi²
    W = torch.randn(
        8, 6, generator=torch.Generator().manual_seed(2), dtype=torch.float64
    )
    eigenvalues = torch.linalg.eigvalsh(W.T @ W).flip(0)  # descending, = σi²
    for r in range(1, 7):
        by_eigenvalues = (eigenvalues[r:].sum() / eigenvalues.sum()).clamp_min(0)
        assert eckart_young_error(W)[r - 1].item() == pytest.approx(
            by_eigenvalues.sqrt().item(), abs=1e-10
        )


def best_fit_by_subspace_iteration(W: torch.Tensor, r: int) -> torch.Tensor:
    """The best rank-r fit found without an SVD: alternate least squares.

    Project W onto an r-dim row space V (fit W V Vᵀ), take the column space of
    that fit, project back, repeat (orthogonal iteration, QR only).
    """
    g = torch.Generator().manual_seed(5)
    V = torch.linalg.qr(torch.randn(W.shape[1], r, generator=g, dtype=W.dtype))[0]
    for _ in range(100):
        U = torch.linalg.qr(W @ V)[0]  # (d, r)
        V = torch.linalg.qr(W.T @ U)[0]  # (k, r)
    return W @ V @ V.T


def test_no_rank_r_matrix_beats_the_eckart_young_error():
    g = torch.Generator().manual_seed(3)
    W = torch.randn(9, 7, generator=g, dtype=torch.float64)
    error = eckart_young_error(W)
    for r in (1, 3, 5):
        # the best fit in r random row directions is worse ...
        for _ in range(20):
            Q = torch.linalg.qr(torch.randn(7, r, generator=g, dtype=W.dtype))[0]
            random_fit = W @ Q @ Q.T
            assert (W - random_fit).norm() / W.norm() > error[r - 1]
        # ... and the best fit found by iteration, with no SVD, reaches it
        fit = best_fit_by_subspace_iteration(W, r)
        reached = ((W - fit).norm() / W.norm()).item()
        assert reached == pytest.approx(error[r - 1].item(), abs=1e-8)
        torch.testing.assert_close(fit, best_rank_r(W, r), rtol=0, atol=1e-8)


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
    ("call", "message"),
    [
        (lambda: energy_captured(torch.zeros(3, 3)), "W is all zeros"),
        (lambda: energy_captured(torch.ones(3)), "W must be a non-empty 2-D"),
        (lambda: best_rank_r(torch.ones(3, 3), 4), r"r must be an integer in \[1, 3\]"),
        (
            lambda: top_singular_vectors(torch.ones(3, 3), 1, side="up"),
            'side must be "left" or "right"',
        ),
        (
            lambda: subspace_similarity(torch.eye(3), torch.eye(4), 1, 1),
            "same space",
        ),
        (
            lambda: subspace_similarity(torch.eye(3), torch.eye(3), 0, 1),
            r"i must be an integer in \[1, 3\]",
        ),
        (
            lambda: projection_norm(
                torch.ones(3, 2), torch.eye(3)[:, :1], torch.eye(3)[:, :1]
            ),
            "V 2 rows",
        ),
    ],
)
def test_bad_input_raises_a_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
