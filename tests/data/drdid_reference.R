# Makes tests/data/drdid_reference_r.json: R DRDID's own numbers (the authors' package, Sant'Anna
# and Zhao 2020) on the data sets of tests/data/drdid_reference.json, beside moderndid's, so that
# tests/test_drdid.py can hold tf-eval to both. Run from the repository root:
#
#     Rscript tests/data/drdid_reference.R > tests/data/drdid_reference_r.json
#
# With DRDID installed (install.packages("DRDID")) it is used as is. Without it (no CRAN here),
# set DRDID_SOURCE to a checkout of github.com/pedrohcgs/DRDID and TRUST_SOURCE to trust's R file
# (github.com/cran/trust, R/trust.R): the estimators are then sourced from the checkout, and
# fastglm's weighted glm (used for the logit and the least squares fits) is replaced by R's own
# glm.fit with a tight tolerance; the estimates are the same maximum likelihood and least squares
# fits. Needs jsonlite.

suppressMessages(library(jsonlite))

source_drdid <- function() {
  if (requireNamespace("DRDID", quietly = TRUE)) {
    return(list(
      imp = DRDID::drdid_imp_panel, trad = DRDID::drdid_panel,
      version = as.character(packageVersion("DRDID")), how = "installed package"
    ))
  }
  src <- Sys.getenv("DRDID_SOURCE")
  trust_file <- Sys.getenv("TRUST_SOURCE")
  if (src == "" || trust_file == "") stop("install DRDID, or set DRDID_SOURCE and TRUST_SOURCE")
  env <- new.env()
  trust_env <- new.env()
  sys.source(trust_file, envir = trust_env)
  assign("trust_fn", trust_env$trust, envir = env)
  # fastglm(x, y, family, weights, intercept = FALSE, method) -> coefficients, fitted, converged
  assign("fastglm_fn", function(x, y, family, weights, intercept = FALSE, method = 0) {
    fit <- stats::glm.fit(x, y, weights = weights, family = family,
                          control = stats::glm.control(epsilon = 1e-14, maxit = 100))
    list(coefficients = fit$coefficients, fitted.values = fit$fitted.values,
         converged = fit$converged)
  }, envir = env)
  for (name in c("pscore.cal", "loss.ps.cal", "loss.ps.IPT", "wols.br.panel",
                 "drdid_imp_panel", "drdid_panel")) {
    code <- readLines(file.path(src, "R", paste0(name, ".R")))
    code <- gsub("fastglm::fastglm(", "fastglm_fn(", code, fixed = TRUE)
    code <- gsub("trust::trust(", "trust_fn(", code, fixed = TRUE)
    eval(parse(text = code), envir = env)
  }
  description <- read.dcf(file.path(src, "DESCRIPTION"))
  list(
    imp = env$drdid_imp_panel, trad = env$drdid_panel,
    version = unname(description[1, "Version"]),
    how = "sourced from its GitHub checkout, trust 0.1-8 sourced, fastglm replaced by glm.fit"
  )
}

drdid <- source_drdid()
reference <- fromJSON("tests/data/drdid_reference.json", simplifyVector = TRUE)
out <- list()
for (name in names(reference$datasets)) {
  data <- reference$datasets[[name]]
  x <- cbind(1, as.matrix(data$covariates))
  n <- nrow(x)
  w <- if (is.null(data$weights)) NULL else as.numeric(data$weights)
  entry <- list()
  for (method in c("improved", "traditional")) {
    estimator <- if (method == "improved") drdid$imp else drdid$trad
    fit <- suppressWarnings(estimator(
      y1 = as.numeric(data$change), y0 = rep(0, n), D = as.numeric(data$treated),
      covariates = x, i.weights = w, inffunc = TRUE
    ))
    entry[[method]] <- list(att = fit$ATT, se = fit$se,
                            influence = if (n <= 400) as.numeric(fit$att.inf.func) else NULL)
  }
  out[[name]] <- entry
}
document <- list(
  about = paste(
    "R DRDID's drdid_imp_panel ('improved') and drdid_panel ('traditional') on the data sets of",
    "drdid_reference.json (intercept column added, y1 = change, y0 = 0, default trim.level",
    "0.995, inffunc = TRUE); influence functions for data sets of up to 400 units.",
    "Made by tests/data/drdid_reference.R."
  ),
  package = "DRDID", version = drdid$version, how = drdid$how,
  r = paste(R.version$major, R.version$minor, sep = "."),
  datasets = out
)
cat(toJSON(document, auto_unbox = TRUE, digits = NA, null = "null", pretty = TRUE), "\n")
