package model

// Environment variables the platform gives a member's processes besides the payload's keys:
// where the member's agent.conf and launch-params are, and the member's address. The local and
// kubernetes drivers set them, and the module bootstrapper (`strata init`) reads and passes
// them on.
const (
	EnvAgentConf    = "STRATA_AGENT_CONF"    // the member's agent.conf
	EnvLaunchParams = "STRATA_LAUNCH_PARAMS" // the member's launch-params file
	EnvMemberIP     = "STRATA_MEMBER_IP"     // the member's address, to bind its ports on
)

// IsEnvName reports whether a payload key can be an environment variable: a name in the POSIX
// sense, a letter or '_' followed by letters, digits and '_' (ASCII). Every Stratos payload key
// is one (MEMBER_ID, MB_URLS, ...). Other keys ("listen.address", "my-key", "1ST") stay out of
// the environment: /bin/sh (dash) drops such variables before it runs anything, so a script
// would see them or not depending on the shell, and a shell cannot name them anyway. They are
// in the launch-params file, which carries every key.
func IsEnvName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c == '_', 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// Env returns the pairs whose keys are environment names (IsEnvName), in order: what a
// member's processes receive in their environment.
func (p Payload) Env() Payload {
	out := make(Payload, 0, len(p))
	for _, kv := range p {
		if IsEnvName(kv.Key) {
			out = append(out, kv)
		}
	}
	return out
}

// Environ returns Env as KEY=VALUE entries, the form of os.Environ and exec.Cmd.Env.
func (p Payload) Environ() []string {
	env := p.Env()
	out := make([]string, len(env))
	for i, kv := range env {
		out[i] = kv.Key + "=" + kv.Value
	}
	return out
}
