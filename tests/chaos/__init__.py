"""The chaos campaign: seeded random trials (kills, concurrency, storage faults, damage, hostile
input) that check deltaset's invariants end to end through its command line.

``tests/chaos/test_chaos.py`` runs a small seeded subset with the suite (marker ``chaos``);
``bench/chaos.py`` runs the whole campaign and writes ``bench/RESULTS-reliability.md``.
"""
