"""Data sets xviz trains and evaluates its own models on: scikit-learn's digits, synthetic seq2seq tasks."""
