"""Prepared datasets: preprocessing talking videos into a cached, versioned dataset; torch Datasets."""
