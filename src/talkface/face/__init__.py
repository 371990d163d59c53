"""Faces: detection, 68-point landmarks (iBUG order), identity embedding, alignment, drawing, eyes."""
