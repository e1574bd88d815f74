package taskhub

import "strings"

// The functions below read the naming rule backwards: given the name of a
// queue, table or container of some task hub, they say which of the hub's
// resources it is, as the short lower-case kind used in call counts, or
// "other".

// QueueKind returns "control" for a control queue, "workitems" for the
// activity queue, and "other".
func QueueKind(name string) string {
	switch {
	case strings.HasSuffix(name, "-workitems"):
		return "workitems"
	case strings.Contains(name, "-control-"):
		return "control"
	}
	return "other"
}

// TableKind returns "history", "instances" or "partitions" for a table of
// those kinds, and "other".
func TableKind(name string) string {
	for _, s := range []string{"History", "Instances", "Partitions"} {
		if strings.HasSuffix(name, s) {
			return strings.ToLower(s)
		}
	}
	return "other"
}

// ContainerKind returns "largemessages", "applease" or "leases" for a
// container of those kinds, and "other".
func ContainerKind(name string) string {
	for _, s := range []string{"largemessages", "applease", "leases"} {
		if strings.HasSuffix(name, "-"+s) {
			return s
		}
	}
	return "other"
}
