package policies

import "time"

// File-shaped structs: the policy file formats as written, YAML keys and Stratos JSON keys alike.
// A key tagged `,json` is accepted only in Stratos JSON. They are decoded strictly by decoder and
// turned into the domain types by the convert functions in convert.go, which also validate.

type fileAutoscaling struct {
	meta
	Kind                   string          `yaml:"kind"`
	ID                     str             `yaml:"id"`
	DisplayName            string          `yaml:"displayName"`
	Description            string          `yaml:"description"`
	IsPublic               bool            `yaml:"isPublic"`
	TenantID               int             `yaml:"tenantId"`
	InstanceRoundingFactor float64         `yaml:"instanceRoundingFactor"`
	LoadThresholds         *fileThresholds `yaml:"loadThresholds"`
	Mode                   str             `yaml:"mode"`
	ShadowOf               str             `yaml:"shadowOf"`
	Rules                  []fileRule      `yaml:"rules"`
	Behaviour              *fileBehaviour  `yaml:"behaviour"`
}

type fileThresholds struct {
	meta
	RequestsInFlight  *fileThreshold `yaml:"requestsInFlight"`
	MemoryConsumption *fileThreshold `yaml:"memoryConsumption"`
	LoadAverage       *fileThreshold `yaml:"loadAverage"`
}

type fileThreshold struct {
	meta
	Threshold *float64 `yaml:"threshold"`
}

type fileRule struct {
	meta
	Name      str `yaml:"name"`
	Required  str `yaml:"required"`
	ScaleUp   str `yaml:"scaleUp"`
	ScaleDown str `yaml:"scaleDown"`
}

type fileBehaviour struct {
	meta
	ScaleUp        *fileDirection `yaml:"scaleUp"`
	ScaleDown      *fileDirection `yaml:"scaleDown"`
	Tolerance      *float64       `yaml:"tolerance"`
	MissingMetrics *fileMissing   `yaml:"missingMetrics"`
}

type fileDirection struct {
	meta
	StabilizationWindow time.Duration `yaml:"stabilizationWindow"`
	MaxStep             *int          `yaml:"maxStep"`
}

type fileMissing struct {
	meta
	After  time.Duration `yaml:"after"`
	Action str           `yaml:"action"`
	Floor  *int          `yaml:"floor"`
	Step   *int          `yaml:"step"`
}

type fileNetworkPartition struct {
	meta
	Kind       string          `yaml:"kind"`
	ID         str             `yaml:"id"`
	Provider   str             `yaml:"provider"`
	IsPublic   bool            `yaml:"isPublic,json"`
	Partitions []filePartition `yaml:"partitions"`
	Properties props           `yaml:"properties"`
}

type filePartition struct {
	meta
	ID          str    `yaml:"id"`
	Description string `yaml:"description"`
	IsPublic    bool   `yaml:"isPublic,json"`
	Properties  props  `yaml:"properties"`
	Property    props  `yaml:"property,json"` // Stratos' PartitionBean spells it in the singular
}

type fileDeployment struct {
	meta
	Kind              string             `yaml:"kind"`
	ID                str                `yaml:"id"`
	NetworkPartitions []fileDeploymentNP `yaml:"networkPartitions"`
}

type fileDeploymentNP struct {
	meta
	ID            str                       `yaml:"id"`
	PartitionAlgo str                       `yaml:"partitionAlgo"`
	Partitions    []fileDeploymentPartition `yaml:"partitions"`
}

type fileDeploymentPartition struct {
	meta
	ID           str  `yaml:"id"`
	PartitionMax *int `yaml:"partitionMax"`
}

type fileApplication struct {
	meta
	Kind              string `yaml:"kind"`
	ID                str    `yaml:"id"`
	Algorithm         str    `yaml:"algorithm"`
	NetworkPartitions []str  `yaml:"networkPartitions"`
	Properties        props  `yaml:"properties"`
}
