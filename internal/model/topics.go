package model

// MQTT subscription filters of the Stratos receivers (docs/stratos-wire.md §1.2). Under MQTT "#"
// also matches the parent topic itself, so SubscribeHealthStats receives SummaryTopic.
const (
	SubscribeTopology          = "topology/#"
	SubscribeInitializer       = "initializer/#"
	SubscribeHealthStats       = "summarized-health-stats/#"
	SubscribeInstanceStatus    = "instance/status/#"
	SubscribeInstanceNotifier  = "instance/notifier/#"
	SubscribeInstance          = "instance/#" // what the Python agent subscribes to
	SubscribeApplication       = "application/#"
	SubscribeApplicationSignUp = "application/signup/#"
	SubscribeClusterStatus     = "cluster/status/#"
	SubscribeTenant            = "tenant/#"
	SubscribeDomainMapping     = "domain/mapping/#"
)
