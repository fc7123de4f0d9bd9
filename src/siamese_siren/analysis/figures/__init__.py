"""The paper's Figures 3-6 and the run's other figures, a module per kind, each written to one file."""
