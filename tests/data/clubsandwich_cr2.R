# Makes tests/data/clubsandwich_cr2.json: CR2 standard errors and Satterthwaite degrees of
# freedom from R's clubSandwich for a few small weighted, clustered regressions, the reference
# that tests/test_cr2.py holds tf-eval to. Needs R and clubSandwich only (Debian:
# apt-get install r-base-core r-cran-clubsandwich). Run from the repository root:
#
#     Rscript tests/data/clubsandwich_cr2.R > tests/data/clubsandwich_cr2.json
#
# Each data set is drawn here with set.seed, so the JSON holds the data as well as the results.

suppressMessages(library(clubSandwich))

num <- function(x) {
  paste0("[", paste(ifelse(is.na(x), "null", sprintf("%.17g", x)), collapse = ", "), "]")
}
str <- function(x) paste0("[", paste0('"', x, '"', collapse = ", "), "]")

# The centred covariates and their interactions with treatment that tf-eval's outcome model uses:
# each covariate minus its weighted mean among treated rows of positive weight.
centre <- function(x, treat, w) {
  on <- treat == 1 & w > 0
  sweep(x, 2, colSums(x[on, , drop = FALSE] * w[on]) / sum(w[on]))
}

# One data set's entry: the model matrix, the data, and clubSandwich's numbers for every
# coefficient. `target`, if given, is the working variance of each row (the default is 1).
entry <- function(name, about, y, X, w, cluster, treatment, target = NULL) {
  fit <- lm(y ~ 0 + X, weights = w)
  names(fit$coefficients) <- colnames(X)
  keep <- w > 0
  cl <- cluster[keep]
  if (is.null(target)) {
    cr2 <- vcovCR(fit, cluster = cl, type = "CR2")
  } else {
    cr2 <- vcovCR(fit, cluster = cl, type = "CR2", target = target[keep])
  }
  test <- coef_test(fit, vcov = cr2, test = "Satterthwaite")
  se <- function(type) sqrt(diag(vcovCR(fit, cluster = cl, type = type)))
  full <- function(values) {
    out <- rep(NA_real_, ncol(X))
    out[!is.na(coef(fit))] <- values
    out
  }
  paste0(
    '{"name": "', name, '", "about": "', about, '",\n',
    ' "treatment": "', treatment, '",\n',
    ' "columns": ', str(colnames(X)), ",\n",
    ' "X": [', paste(apply(X, 2, num), collapse = ",\n  "), "],\n",
    ' "y": ', num(y), ",\n",
    ' "w": ', num(w), ",\n",
    ' "cluster": ', num(cluster), ",\n",
    ' "target": ', if (is.null(target)) "null" else num(target), ",\n",
    ' "coefficients": ', num(coef(fit)), ",\n",
    ' "cr2_se": ', num(full(test$SE)), ",\n",
    ' "satterthwaite_df": ', num(full(test$df_Satt)), ",\n",
    ' "satterthwaite_p": ', num(full(test$p_Satt)), ",\n",
    ' "cr1_se": ', num(full(se("CR1"))), ",\n",
    ' "cr1s_se": ', num(full(se("CR1S"))), ",\n",
    ' "clusters": ', length(unique(cl)), "}"
  )
}

entries <- character()

# 1. Unequal clusters of 1-12 rows, treatment and weights varying within clusters, and an aliased
#    column (x4 = x1 + 2 x2, which lm reports as NA and every estimator drops).
set.seed(101)
sizes <- sample(1:12, 24, replace = TRUE)
cluster <- rep(seq_along(sizes), sizes)
n <- length(cluster)
treat <- rbinom(n, 1, 0.4)
x1 <- rnorm(n)
x2 <- rbinom(n, 1, 0.5)
x3 <- rpois(n, 2)
X <- cbind("(Intercept)" = 1, treat = treat, x1 = x1, x2 = x2, x4 = x1 + 2 * x2, x3 = x3)
w <- runif(n, 0.3, 3)
y <- 0.5 * treat + x1 - 0.3 * x3 + rnorm(24)[cluster] + rnorm(n) * (1 + x2)
entries <- c(entries, entry(
  "unequal_clusters", "24 clusters of 1-12 rows; weights and treatment vary within clusters",
  y, X, w, cluster, "treat"
))

# 2. Matching weights, one row per cluster: 100 treated units (weight 1) and 200 controls matched
#    1:1 with replacement (weight = times used, rescaled to sum to the controls used; unused
#    controls weigh 0 and drop out), with an outcome model as tf-eval's: covariates and a square,
#    centred at the treated mean, interacted with treatment.
set.seed(202)
n <- 300
treat <- c(rep(1, 100), rep(0, 200))
x <- cbind(x1 = rnorm(n, 0.4 * treat), x2 = rbinom(n, 1, 0.3 + 0.2 * treat), x3 = rpois(n, 2))
used <- tabulate(sample(101:300, 100, replace = TRUE, prob = exp(x[101:300, "x1"])), n)
w <- ifelse(treat == 1, 1, used)
w[treat == 0] <- w[treat == 0] * sum(used > 0) / sum(used)
x <- cbind(x, "x1^2" = x[, "x1"]^2)
xc <- centre(x, treat, w)
X <- cbind("(Intercept)" = 1, treat = treat, xc, xc * treat)
colnames(X)[7:10] <- paste0("treat:", colnames(xc))
y <- 1 + 0.3 * treat + x[, "x1"] + 0.5 * x[, "x1"]^2 + rnorm(n) * (1 + 0.5 * treat)
entries <- c(entries, entry(
  "matching_weights", "300 units, each its own cluster; 1:1 matching weights with replacement (zeros for unused controls); outcome model centred at the treated and interacted with treatment",
  y, X, w, seq_len(n), "treat"
))

# 3. People in families: 60 families of 1-7 people; treatment, weight and covariates are the
#    family's, the outcome each person's. The same model is then fitted on family means (weight
#    x family size) with working variance 1/size, which gives the people-level numbers.
set.seed(303)
families <- 60
size <- sample(1:7, families, replace = TRUE, prob = c(3, 4, 4, 3, 2, 1, 1))
ftreat <- rbinom(families, 1, 0.45)
fw <- ifelse(ftreat == 1, 1, rgamma(families, 2, 2))
fx <- cbind(x1 = rnorm(families, 0.3 * ftreat), x2 = rpois(families, 1.5))
fxc <- centre(fx, ftreat, fw * size)  # the treated people's weighted mean, as tf-eval centres
fX <- cbind("(Intercept)" = 1, treat = ftreat, fxc, fxc * ftreat)
colnames(fX)[5:6] <- paste0("treat:", colnames(fxc))
cluster <- rep(seq_len(families), size)
X <- fX[cluster, ]
y <- 0.4 * ftreat[cluster] + fx[cluster, "x1"] + rnorm(families)[cluster] + rnorm(length(cluster))
entries <- c(entries, entry(
  "families_people", "60 families of 1-7 people; treatment, weight and covariates the family's",
  y, X, fw[cluster], cluster, "treat"
))
ybar <- tapply(y, cluster, mean)
entries <- c(entries, entry(
  "families_means", "the families_people data as family means, weight x size, working variance 1/size",
  as.numeric(ybar), fX, fw * size, seq_len(families), "treat", target = 1 / size
))
entries <- c(entries, entry(
  "families_means_unit_target", "the family means with clubSandwich's default working variance (1 per row): not the people-level numbers",
  as.numeric(ybar), fX, fw * size, seq_len(families), "treat"
))

# 4. Thin data, as at one local authority x cohort: 150 families, one row each, 60 treated, and
#    an outcome model of 17 covariates interacted with treatment (36 parameters), matching
#    weights 1:1 with replacement.
set.seed(404)
n <- 150
treat <- c(rep(1, 60), rep(0, 90))
x <- matrix(rnorm(n * 17), n, 17, dimnames = list(NULL, paste0("z", 1:17)))
x[, 1] <- x[, 1] + 0.5 * treat
x[, 2:4] <- 1 * (x[, 2:4] > 0.5)
used <- tabulate(sample(61:150, 60, replace = TRUE), n)
w <- ifelse(treat == 1, 1, used)
w[treat == 0] <- w[treat == 0] * sum(used > 0) / sum(used)
xc <- centre(x, treat, w)
X <- cbind("(Intercept)" = 1, treat = treat, xc, xc * treat)
colnames(X)[20:36] <- paste0("treat:", colnames(xc))
y <- 0.2 * treat + x[, 1] - x[, 5] + rnorm(n)
entries <- c(entries, entry(
  "thin_one_la", "150 units, each its own cluster, 36 parameters; 1:1 matching weights with replacement",
  y, X, w, seq_len(n), "treat"
))

# 5. Leverage near and at 1: a column that is nearly one unit's indicator (its G_j near 0, its
#    CR2 adjustment huge) and one that is exactly another's (G_j = 0: the pseudo-inverse).
set.seed(505)
n <- 60
treat <- rbinom(n, 1, 0.5)
x1 <- rnorm(n)
near <- (seq_len(n) == 7) + 1e-4 * rnorm(n)
lone <- 1 * (seq_len(n) == 19)
X <- cbind("(Intercept)" = 1, treat = treat, x1 = x1, near = near, lone = lone)
w <- rgamma(n, 3, 2)
y <- 0.3 * treat + x1 + rnorm(n)
entries <- c(entries, entry(
  "high_leverage", "60 units, each its own cluster; one unit's leverage within 1e-8 of 1, another's exactly 1",
  y, X, w, seq_len(n), "treat"
))

# 6. The same in clusters of 1-4 rows: one cluster alone has a column (its B_j singular), and a
#    row of another is nearly alone in one.
set.seed(606)
sizes <- sample(1:4, 30, replace = TRUE)
cluster <- rep(seq_along(sizes), sizes)
n <- length(cluster)
treat <- rbinom(n, 1, 0.5)
x1 <- rnorm(n)
mine <- 1 * (cluster == 3)
near <- (seq_len(n) == which(cluster == 5)[1]) + 1e-4 * rnorm(n)
X <- cbind("(Intercept)" = 1, treat = treat, x1 = x1, mine = mine, near = near)
w <- runif(n, 0.5, 2)
y <- 0.3 * treat + x1 + rnorm(30)[cluster] + rnorm(n)
entries <- c(entries, entry(
  "high_leverage_clusters", "30 clusters of 1-4 rows; one cluster alone in a column, one row nearly alone in another",
  y, X, w, cluster, "treat"
))

cat(
  '{"about": "CR2 standard errors (vcovCR(fit, cluster, type = \\"CR2\\"), default working model ',
  'unless target is given) and Satterthwaite degrees of freedom and p-values (coef_test(fit, ',
  'vcov, test = \\"Satterthwaite\\")) for lm(y ~ 0 + X, weights = w) on each data set, with ',
  'clubSandwich CR1 and CR1S standard errors for comparison; null marks a coefficient lm ',
  'reports as NA (aliased). Made by tests/data/clubsandwich_cr2.R with ', R.version.string,
  ' and clubSandwich ', as.character(packageVersion("clubSandwich")), ' (Debian packages ',
  'r-base-core and r-cran-clubsandwich).",\n',
  '"datasets": [\n', paste(entries, collapse = ",\n"), "\n]}\n",
  sep = ""
)
