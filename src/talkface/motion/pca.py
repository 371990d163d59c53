"""PCA of training landmark displacements, used to initialise linear layers (Das et al., Sec. 4.2).

"We initialize weights of the last layer of the decoder in G_L and the first layer of D_L with
33 PCA components computed over the landmark displacements in training data", and G_B's last
linear layer "with PCA components (with 99 % variance) computed over ground-truth eye landmark
displacements". :func:`fit_pca` keeps the fewest components that explain ``variance`` of the data,
capped at ``max_components``; :func:`init_decoder` and :func:`init_encoder` copy them into
``torch.nn.Linear`` layers whose code size is fixed by the model config (unused code dimensions get
zero weights, so they start inert and can still learn).

Whitening: with ``whiten=True`` the decoder's columns are the components times the standard
deviation along them (and the encoder's rows divided by it), so the code of a typical training
sample has unit variance per dimension: the network in front of the decoder then outputs
O(1) values instead of the data's tiny canonical-unit coefficients.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["PCA", "fit_pca", "init_decoder", "init_encoder"]


@dataclass
class PCA:
    """A fitted PCA basis.

    Attributes:
        mean: (D,) float32 data mean.
        components: (K, D) float32 orthonormal principal directions, by decreasing variance.
        explained_variance: (K,) float32 variance of the data along each component.
        explained_variance_ratio: (K,) float32 fraction of the total variance per component.
    """

    mean: np.ndarray
    components: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray

    @property
    def num_components(self) -> int:
        """K, the number of kept components."""
        return int(self.components.shape[0])

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Coefficients of (N, D) data: (N, K) float32 ``(x - mean) @ components.T``."""
        return ((np.asarray(x, dtype=np.float64) - self.mean) @ self.components.T).astype(np.float32)


def fit_pca(data: np.ndarray, variance: float = 0.99, max_components: int = 33) -> PCA:
    """Principal components of data, keeping ``variance`` of it, at most ``max_components``.

    Args:
        data: (N, D) samples, e.g. flattened landmark displacements (N, 68*2), canonical units.
        variance: fraction of the total variance to keep (0 < variance <= 1).
        max_components: upper bound on the number of components K.

    Returns:
        The :class:`PCA` (float32), K >= 1.
    """
    x = np.asarray(data, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"data must be (N, D) with N >= 2, got {x.shape}")
    if not 0.0 < variance <= 1.0:
        raise ValueError("variance must be in (0, 1]")
    mean = x.mean(axis=0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    var = s**2 / (x.shape[0] - 1)
    total = float(var.sum())
    if total <= 0.0:
        k = 1
        ratio = np.zeros_like(var)
    else:
        ratio = var / total
        k = int(np.searchsorted(np.cumsum(ratio), variance - 1e-12) + 1)
    k = max(1, min(k, max_components, vt.shape[0]))
    return PCA(
        mean=mean.astype(np.float32),
        components=vt[:k].astype(np.float32),
        explained_variance=var[:k].astype(np.float32),
        explained_variance_ratio=ratio[:k].astype(np.float32),
    )


def _scales(pca: PCA, whiten: bool) -> np.ndarray:
    """Per-component standard deviations (whiten) or ones, (K,) float64."""
    if not whiten:
        return np.ones(pca.num_components)
    return np.sqrt(np.maximum(pca.explained_variance.astype(np.float64), 1e-12))


@torch.no_grad()
def init_decoder(linear: torch.nn.Linear, pca: PCA, whiten: bool = True) -> None:
    """Make ``linear`` map PCA codes to data: ``y = W c + b`` with W's columns the components.

    Args:
        linear: ``Linear(code_dim, D)``, code_dim >= 1; the first K columns get the components
            (times their standard deviations if ``whiten``), the rest zeros; the bias is the mean.
        pca: the fitted basis (D must match ``linear.out_features``).
        whiten: scale columns so unit-variance codes give data-like outputs.
    """
    d, k = linear.out_features, min(pca.num_components, linear.in_features)
    if pca.components.shape[1] != d:
        raise ValueError(f"PCA of dimension {pca.components.shape[1]} does not fit Linear(..., {d})")
    basis = pca.components[:k].astype(np.float64) * _scales(pca, whiten)[:k, None]  # (k, D)
    weight = torch.zeros_like(linear.weight)
    weight[:, :k] = torch.as_tensor(basis.T, dtype=weight.dtype)
    linear.weight.copy_(weight)
    if linear.bias is not None:
        linear.bias.copy_(torch.as_tensor(pca.mean, dtype=linear.bias.dtype))


@torch.no_grad()
def init_encoder(linear: torch.nn.Linear, pca: PCA, whiten: bool = True) -> None:
    """Make ``linear`` map data to PCA codes: ``c = W (x - mean)`` (a "re-encoding layer").

    Args:
        linear: ``Linear(D, code_dim)``; the first K rows get the components (divided by their
            standard deviations if ``whiten``), the rest zeros; the bias is ``-W mean``.
        pca: the fitted basis (D must match ``linear.in_features``).
        whiten: give the codes of training data unit variance.
    """
    d, k = linear.in_features, min(pca.num_components, linear.out_features)
    if pca.components.shape[1] != d:
        raise ValueError(f"PCA of dimension {pca.components.shape[1]} does not fit Linear({d}, ...)")
    basis = pca.components[:k].astype(np.float64) / _scales(pca, whiten)[:k, None]  # (k, D)
    weight = torch.zeros_like(linear.weight)
    weight[:k] = torch.as_tensor(basis, dtype=weight.dtype)
    linear.weight.copy_(weight)
    if linear.bias is not None:
        bias = torch.zeros_like(linear.bias)
        bias[:k] = torch.as_tensor(-(basis @ pca.mean.astype(np.float64)), dtype=bias.dtype)
        linear.bias.copy_(bias)
