"""Pure logic: paths, manifests, change-sets, merges, versions. No I/O policy lives here."""
