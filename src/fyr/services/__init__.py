"""The four Fyr services; they never import each other."""
