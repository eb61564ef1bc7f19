package rules

import "time"

// Metric is one metric family (requests in flight, memory consumption or load average) of a
// cluster instance as the autoscaler sees it: the latest CEP summaries, the prediction of
// docs/stratos-wire.md §4.3 and the instance count the family alone requires (§4.4). The autoscaler
// does the arithmetic in Go; rules only compare and combine the results.
type Metric struct {
	Average          float64 `expr:"average"`
	Gradient         float64 `expr:"gradient"`
	SecondDerivative float64 `expr:"secondDerivative"`
	Predicted        float64 `expr:"predicted"`
	Threshold        float64 `expr:"threshold"` // from the autoscaling policy's loadThresholds
	Required         int     `expr:"required"`  // the family's required count (§4.4)
	Fresh            bool    `expr:"fresh"`     // the family's reset flag (§4.2)
	Missing          bool    `expr:"missing"`   // no summary within the policy's missing-metrics window
}

// Time is the evaluation time split into the fields rules compare. It comes from the
// autoscaler's clock, never from the wall clock inside a rule, so evaluations replay exactly.
type Time struct {
	Unix    int `expr:"unix"`    // seconds since the epoch
	Hour    int `expr:"hour"`    // 0-23, UTC
	Minute  int `expr:"minute"`  // 0-59
	Weekday int `expr:"weekday"` // 0 = Sunday
}

// TimeOf splits t (in UTC) into a Time.
func TimeOf(t time.Time) Time {
	t = t.UTC()
	return Time{Unix: int(t.Unix()), Hour: t.Hour(), Minute: t.Minute(), Weekday: int(t.Weekday())}
}

// Env is the typed environment of an expr program: one cluster instance at one evaluation. Every
// field is a plain value so that evaluation does not allocate. The names in the expr tags are the
// names rules use; minMembers and maxMembers are not called min and max because those would hide
// expr's min() and max() builtins.
type Env struct {
	RIF Metric `expr:"rif"` // requests in flight
	MC  Metric `expr:"mc"`  // memory consumption (%)
	LA  Metric `expr:"la"`  // load average (%)

	Active             int `expr:"active"`
	Pending            int `expr:"pending"`
	TerminationPending int `expr:"terminationPending"`
	Obsolete           int `expr:"obsolete"`
	NonTerminated      int `expr:"nonTerminated"`
	MinMembers         int `expr:"minMembers"`
	MaxMembers         int `expr:"maxMembers"`

	// Required, ScaleUp and ScaleDown start as the Stratos verdicts (§4.4, §4.5); each policy rule
	// that targets one of them replaces it, and later rules see the replaced value.
	Required          int  `expr:"required"`
	ScaleUp           bool `expr:"scaleUp"`
	ScaleDown         bool `expr:"scaleDown"`
	ScaleDownRequests int  `expr:"scaleDownRequests"`
	MetricsMissing    bool `expr:"metricsMissing"` // every family is missing

	Time Time `expr:"time"`

	ClusterID          string `expr:"clusterId"`
	ClusterInstanceID  string `expr:"clusterInstanceId"`
	NetworkPartitionID string `expr:"networkPartitionId"`
	ApplicationID      string `expr:"applicationId"`
	TenantID           string `expr:"tenantId"`
	Cartridge          string `expr:"cartridge"`
}
