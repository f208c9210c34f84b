# Rosenbaum's sensitivity bound for Wilcoxon's signed-rank test on matched pairs (Rosenbaum 2002,
# Observational Studies, 2nd ed., section 4.3.3), written here from the formulas in base R only,
# as the reference for tf_eval.method.sensitivity (tests/test_sensitivity.py).
#
# The pairs are lalonde's (tests/data/lalonde.csv) 1:1 nearest-neighbour matches without
# replacement on the propensity score of treat ~ age + educ + race + married + nodegree + re74 +
# re75, as tf-eval's matcher makes them (MatchIt 4.7.2's rule: tests/test_matching.py), written to
# lalonde_pairs_1to1.csv by lalonde_pairs_1to1.py (tests/test_sensitivity.py checks that they
# are still the matches tf-eval makes). The outcome is re78; the pair differences are treated
# minus control.
#
#   Rscript tests/data/rosenbaum_lalonde.R > tests/data/rosenbaum_lalonde.json
#
# Under hidden bias Gamma (one unit of a pair at most Gamma times as likely to be treated as the
# other), the signed-rank statistic T (sum of the ranks of |d| over positive d; zero differences
# dropped; ties take average ranks) is at most, stochastically, the sum of each rank times an
# independent Bernoulli(Gamma / (1 + Gamma)): mean p * sum(r), variance p (1 - p) sum(r^2). The
# upper bound on the one-sided p-value is 1 - pnorm((T - mean) / sqrt(variance)).

lalonde <- read.csv("tests/data/lalonde.csv")
pairs <- read.csv("tests/data/lalonde_pairs_1to1.csv")
re78 <- setNames(lalonde$re78, lalonde$id)
d <- unname(re78[pairs$treated] - re78[pairs$control])

bound_p <- function(d, gamma) {
  d <- d[d != 0]
  r <- rank(abs(d))
  t <- sum(r[d > 0])
  p <- gamma / (1 + gamma)
  1 - pnorm((t - p * sum(r)) / sqrt(p * (1 - p) * sum(r^2)))
}

solve_gamma <- function(d, alpha) {
  if (bound_p(d, 1) >= alpha) return(1)
  f <- function(log_gamma) bound_p(d, exp(log_gamma)) - alpha
  exp(uniroot(f, c(0, log(1e6)), tol = 1e-12)$root)
}

grid <- seq(1, 3, by = 0.25)
# At Gamma = 1 the bound is the usual test: R's own normal approximation with the ties
# correction and no continuity correction gives the same p-value.
wilcox_p <- wilcox.test(d, alternative = "greater", exact = FALSE, correct = FALSE)$p.value

# Rosenbaum's test of a constant effect tau0 uses d - tau0; shifts give cases where the result
# is significant, so that the Gamma solved for is above 1.
cases <- lapply(c(0, 500, 1000, 2000), function(tau0) {
  shifted <- d + tau0
  list(
    shift = tau0,
    p_upper = sapply(grid, function(g) bound_p(shifted, g)),
    gamma_alpha_0.05 = solve_gamma(shifted, 0.05),
    gamma_alpha_0.025 = solve_gamma(shifted, 0.025)
  )
})

json_number <- function(x) formatC(x, digits = 17, format = "g")
json_vector <- function(x) paste0("[", paste(json_number(x), collapse = ", "), "]")
cat("{\n")
cat('  "about": "Rosenbaum bound for the signed-rank test on lalonde 1:1 pairs (re78), base R ',
    R.version.string, '; see rosenbaum_lalonde.R",\n', sep = "")
cat('  "pairs": ', length(d), ",\n", sep = "")
cat('  "differences": ', json_vector(d), ",\n", sep = "")
cat('  "gamma_grid": ', json_vector(grid), ",\n", sep = "")
cat('  "wilcox_test_p_greater": ', json_number(wilcox_p), ",\n", sep = "")
cat('  "cases": [\n')
for (i in seq_along(cases)) {
  c <- cases[[i]]
  cat('    {"shift": ', json_number(c$shift), ', "p_upper": ', json_vector(c$p_upper),
      ', "gamma_alpha_0.05": ', json_number(c$gamma_alpha_0.05),
      ', "gamma_alpha_0.025": ', json_number(c$gamma_alpha_0.025), "}",
      if (i < length(cases)) "," else "", "\n", sep = "")
}
cat("  ]\n}\n")
