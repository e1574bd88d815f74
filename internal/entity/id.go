package entity

import (
	"errors"
	"strings"
)

// ID names one entity: its name (stored lower-cased, as the extension
// does) and its key (case-sensitive).
type ID struct {
	Name string
	Key  string
}

// NewID returns the id of the entity name and key, the name lower-cased.
func NewID(name, key string) ID { return ID{Name: strings.ToLower(name), Key: key} }

// InstanceID is the id of the entity's orchestration instance: "@name@key".
func (id ID) InstanceID() string { return "@" + strings.ToLower(id.Name) + "@" + id.Key }

// String is the instance id.
func (id ID) String() string { return id.InstanceID() }

// Validate refuses names the instance id could not carry: an empty name,
// or a name with '@' (the key may hold anything).
func (id ID) Validate() error {
	if id.Name == "" {
		return errors.New("entity name is empty")
	}
	if strings.Contains(id.Name, "@") {
		return errors.New("entity name must not contain '@'")
	}
	return nil
}

// Parse reads an entity instance id ("@name@key").
func Parse(instanceID string) (ID, bool) {
	if len(instanceID) < 2 || instanceID[0] != '@' {
		return ID{}, false
	}
	i := strings.IndexByte(instanceID[1:], '@')
	if i < 0 {
		return ID{}, false
	}
	return ID{Name: instanceID[1 : 1+i], Key: instanceID[2+i:]}, true
}

// IsInstanceID reports whether an instance id names an entity: it starts
// with '@' and has a second '@'. Orchestration ids must not start with '@'
// (the extension refuses them).
func IsInstanceID(instanceID string) bool {
	_, ok := Parse(instanceID)
	return ok
}

// Compare orders entity ids as the extension orders the entities of a lock
// set: by their instance ids (compared here ordinally; the extension
// compares them with .NET's culture-aware string comparison, which agrees
// for the lower-case names and ASCII letter-and-digit keys used in
// practice).
func Compare(a, b ID) int { return strings.Compare(a.InstanceID(), b.InstanceID()) }
