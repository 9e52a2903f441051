"""Is an update low-rank? Singular-value energy, Eckart-Young error, subspace overlap.

The tools behind the chapter "Is the update really low-rank?"
(docs/low-rank.md), which applies them to real fine-tuning updates ΔW of a
pretrained encoder. `subspace_similarity` is the normalised Grassmann
similarity of Hu et al., "LoRA" (arXiv 2106.09685, section 7.2), and
`projection_norm` is the quantity of their section 7.3 / Table 7. PEFT has
no counterpart: these are analysis tools, not adapters.

Layout (docs/notation.md): a weight has shape (d, k) = (out, in); its left
singular vectors live in R^d, its right singular vectors in R^k. Everything
is computed in float64, so the numbers do not depend on the input dtype.
"""

import torch


def _check_matrix(M: torch.Tensor, name: str) -> None:
    if not isinstance(M, torch.Tensor) or M.ndim != 2 or 0 in M.shape:
        shape = tuple(M.shape) if isinstance(M, torch.Tensor) else type(M).__name__
        raise ValueError(f"{name} must be a non-empty 2-D matrix, got {shape}")


def _check_count(name: str, value: int, high: int) -> None:
    """Raise `ValueError` unless value is an integer in [1, high] (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise ValueError(f"{name} must be an integer in [1, {high}], got {value!r}")


def energy_captured(W: torch.Tensor) -> torch.Tensor:
    """Fraction of ‖W‖²_F in the top r singular values, for r = 1 ... min(d, k).

    Entry r - 1 is (σ1² + ... + σr²) / (σ1² + ... + σn²). It rises to exactly
    1 at the last entry; a low-rank matrix gets there early.

    Args:
        W: a (d, k) matrix, not all zero.
    """
    _check_matrix(W, "W")
    S = torch.linalg.svdvals(W.detach().double())  # (min(d, k),), descending
    total = (S**2).sum()
    if total == 0:
        raise ValueError("W is all zeros: its energy is 0, so no fraction exists")
    return torch.cumsum(S**2, 0) / total


def eckart_young_error(W: torch.Tensor) -> torch.Tensor:
    """Relative error ‖W - W_r‖_F / ‖W‖_F of the best rank-r W_r, r = 1 ... min(d, k).

    By the Eckart-Young(-Mirsky) theorem the best rank-r approximation in
    Frobenius norm is the truncated SVD, and its squared error is the sum of
    the discarded σi², so the relative error is sqrt(1 - energy_captured).

    Args:
        W: a (d, k) matrix, not all zero.
    """
    # clamp: 1 - energy can be -1e-16 at the end from rounding
    return (1 - energy_captured(W)).clamp_min(0).sqrt()


def best_rank_r(W: torch.Tensor, r: int) -> torch.Tensor:
    """The truncated SVD U_r diag(σ_1..σ_r) V_rᵀ, in float64: the best rank-r W_r."""
    _check_matrix(W, "W")
    _check_count("r", r, min(W.shape))
    U, S, Vh = torch.linalg.svd(W.detach().double(), full_matrices=False)
    return U[:, :r] @ torch.diag(S[:r]) @ Vh[:r]  # (d, r) (r, r) (r, k) -> (d, k)


def gaussian_like(W: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A random Gaussian matrix with W's shape and W's Frobenius norm (float64).

    The comparison the course material got backwards: such a matrix is full
    rank with probability 1 and spreads its energy over all directions.
    """
    _check_matrix(W, "W")
    G = torch.randn(W.shape, generator=generator, dtype=torch.float64)
    return G * (W.detach().double().norm() / G.norm())


def top_singular_vectors(M: torch.Tensor, r: int, side: str = "left") -> torch.Tensor:
    """The top-r left (in R^d) or right (in R^k) singular vectors of M, as columns.

    Args:
        M: a (d, k) matrix.
        r: how many, at most min(d, k).
        side: "left" gives a (d, r) matrix, "right" a (k, r) matrix.
    """
    _check_matrix(M, "M")
    if side not in ("left", "right"):
        raise ValueError(f'side must be "left" or "right", got {side!r}')
    _check_count("r", r, min(M.shape))
    U, _, Vh = torch.linalg.svd(M.detach().double(), full_matrices=False)
    return U[:, :r] if side == "left" else Vh[:r].T


def subspace_similarity(U1: torch.Tensor, U2: torch.Tensor, i: int, j: int) -> float:
    """Normalised overlap of span(U1[:, :i]) and span(U2[:, :j]), in [0, 1].

    φ(i, j) = ‖U1[:, :i]ᵀ U2[:, :j]‖²_F / min(i, j), LoRA paper section 7.2.
    The paper feeds it the right-singular vectors of two learned A matrices
    (r = 8 and r = 64). It is 1 when one subspace contains the other and 0
    when they are orthogonal; two random subspaces of R^n give about
    max(i, j) / n.

    Args:
        U1: (n, r1) matrix with orthonormal columns.
        U2: (n, r2) matrix with orthonormal columns, in the same space R^n.
        i: how many leading columns of U1, 1 <= i <= r1.
        j: how many leading columns of U2, 1 <= j <= r2.
    """
    _check_matrix(U1, "U1")
    _check_matrix(U2, "U2")
    if U1.shape[0] != U2.shape[0]:
        raise ValueError(
            f"U1 and U2 must span subspaces of the same space, got {U1.shape[0]}-dim "
            f"and {U2.shape[0]}-dim columns"
        )
    _check_count("i", i, U1.shape[1])
    _check_count("j", j, U2.shape[1])
    overlap = U1[:, :i].double().T @ U2[:, :j].double()  # (i, n) (n, j) -> (i, j)
    return float((overlap**2).sum() / min(i, j))


def projection_norm(W: torch.Tensor, U: torch.Tensor, V: torch.Tensor) -> float:
    """‖Uᵀ W V‖_F: how much of W lives in the subspaces U (of R^d) and V (of R^k).

    LoRA section 7.3 projects W0 onto the top-r singular directions of ΔW
    (U from the left, V from the right) and compares the result with ΔW's
    norm, with W0's own top directions and with random ones (Table 7).

    Args:
        W: a (d, k) matrix.
        U: (d, r) orthonormal columns.
        V: (k, r) orthonormal columns.
    """
    _check_matrix(W, "W")
    d, k = W.shape
    if U.shape[0] != d or V.shape[0] != k:
        raise ValueError(
            f"U must have {d} rows and V {k} rows for W of shape {(d, k)}, "
            f"got U {tuple(U.shape)} and V {tuple(V.shape)}"
        )
    # (r, d) (d, k) (k, r) -> (r, r)
    return float((U.double().T @ W.detach().double() @ V.double()).norm())
