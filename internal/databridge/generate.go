package databridge

// The generated code in gen/ is committed; `make generate` refreshes it (needs the thrift compiler,
// tested with 0.17, whose output builds with github.com/apache/thrift v0.25).
//go:generate thrift --gen go:package_prefix=github.com/strata-paas/strata/internal/databridge/,skip_remote -out . databridge.thrift
