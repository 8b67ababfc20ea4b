"""Shared by the tests: moved out of tests.test_survival so no test module imports another."""

SIX_MP = [(t, True) for t in (6, 6, 6, 7, 10, 13, 16, 22, 23)] + [
    (t, False) for t in (6, 9, 10, 11, 17, 19, 20, 25, 32, 32, 34, 35)
]


PLACEBO = [(t, True) for t in (1, 1, 2, 2, 3, 4, 4, 5, 5, 8, 8, 8, 8, 11, 11, 12, 12, 15)] + [
    (t, True) for t in (17, 22, 23)
]


PUBLISHED_SIX_MP = {6: 0.857, 7: 0.807, 10: 0.753, 13: 0.690, 16: 0.627, 22: 0.538, 23: 0.448}


PUBLISHED_LOG_RANK = 16.79  # chi-square, 1 degree of freedom, 6-MP vs placebo
