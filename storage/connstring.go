package storage

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Canonical setting names. Lookup is case-insensitive, as in the C# parser.
const (
	keyProtocol        = "DefaultEndpointsProtocol"
	keyAccountName     = "AccountName"
	keyAccountKey      = "AccountKey"
	keySAS             = "SharedAccessSignature"
	keySuffix          = "EndpointSuffix"
	keyBlobEndpoint    = "BlobEndpoint"
	keyQueueEndpoint   = "QueueEndpoint"
	keyTableEndpoint   = "TableEndpoint"
	keyUseDevStorage   = "UseDevelopmentStorage"
	keyDevStorageProxy = "DevelopmentStorageProxyUri"
)

// ignoredKeys are valid in Azure connection strings but irrelevant here
// (Azure Files, read-only secondaries). Accepting them keeps strings copied
// from the portal working.
var ignoredKeys = []string{
	"FileEndpoint", "BlobSecondaryEndpoint", "QueueSecondaryEndpoint",
	"TableSecondaryEndpoint", "FileSecondaryEndpoint", "AccountKeyName",
}

var canonicalKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range append([]string{
		keyProtocol, keyAccountName, keyAccountKey, keySAS, keySuffix,
		keyBlobEndpoint, keyQueueEndpoint, keyTableEndpoint, keyUseDevStorage, keyDevStorageProxy,
	}, ignoredKeys...) {
		m[strings.ToLower(k)] = k
	}
	return m
}()

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidConnectionString, fmt.Sprintf(format, args...))
}

// ParseConnectionString parses an Azure Storage connection string. Supported
// forms:
//
//	DefaultEndpointsProtocol=https;AccountName=NAME;AccountKey=KEY;EndpointSuffix=core.windows.net
//	AccountName=NAME;AccountKey=KEY;BlobEndpoint=URL;QueueEndpoint=URL;TableEndpoint=URL
//	BlobEndpoint=URL;QueueEndpoint=URL;TableEndpoint=URL;SharedAccessSignature=SAS
//	UseDevelopmentStorage=true[;DevelopmentStorageProxyUri=http://HOST]
//
// Setting names are case-insensitive; whitespace around names and values
// and empty segments (a trailing ';') are ignored. Explicit endpoints win over
// ones derived from AccountName, EndpointSuffix (default core.windows.net)
// and DefaultEndpointsProtocol (default https). UseDevelopmentStorage=true
// means the Azurite endpoints http://127.0.0.1:10000/devstoreaccount1 (blob),
// :10001 (queue) and :10002 (table) with [DevelopmentAccountKey]; with a proxy
// URI, its scheme and host replace http://127.0.0.1.
//
// Errors wrap [ErrInvalidConnectionString] and name the offending setting;
// they never contain the input or any value from it.
func ParseConnectionString(s string) (*Account, error) {
	settings, err := splitSettings(s)
	if err != nil {
		return nil, err
	}
	if _, ok := settings[keyUseDevStorage]; ok {
		return parseDevelopmentStorage(settings)
	}
	if _, ok := settings[keyDevStorageProxy]; ok {
		return nil, invalid("%s requires %s=true", keyDevStorageProxy, keyUseDevStorage)
	}

	name := settings[keyAccountName]
	if name != "" {
		if err := validateAccountName(name); err != nil {
			return nil, invalid("%s is not a valid account name (3 to 24 lowercase letters and digits)", keyAccountName)
		}
	}

	cred, err := credentialFrom(settings, name)
	if err != nil {
		return nil, err
	}

	e, err := endpointsFrom(settings, name)
	if err != nil {
		return nil, err
	}
	if name == "" {
		name = nameFromEndpoints(e)
	}
	return &Account{name: name, endpoints: e, cred: cred}, nil
}

// splitSettings splits "k=v;k=v" into canonical names. Unknown names are
// rejected so that a typo ("AcountKey") is reported as such instead of as a
// missing key; the name is echoed only when it is plainly a name.
func splitSettings(s string) (map[string]string, error) {
	out := map[string]string{}
	for i, seg := range strings.Split(s, ";") {
		seg = strings.TrimSpace(seg)
		if seg == "" {
			continue
		}
		k, v, ok := strings.Cut(seg, "=")
		if !ok {
			return nil, invalid("setting %d is not of the form Name=Value", i+1)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		canon, known := canonicalKeys[strings.ToLower(k)]
		if !known {
			if looksLikeName(k) {
				return nil, invalid("unknown setting %q", k)
			}
			return nil, invalid("setting %d has an invalid name", i+1)
		}
		if _, dup := out[canon]; dup {
			return nil, invalid("%s is set more than once", canon)
		}
		if v == "" {
			return nil, invalid("%s has an empty value", canon)
		}
		out[canon] = v
	}
	if len(out) == 0 {
		return nil, invalid("it is empty")
	}
	return out, nil
}

// looksLikeName reports whether k is short and letters only, which no key,
// signature or URL is; only such names are safe to repeat in an error.
func looksLikeName(k string) bool {
	if k == "" || len(k) > 32 {
		return false
	}
	for _, r := range k {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') {
			return false
		}
	}
	return true
}

func parseDevelopmentStorage(settings map[string]string) (*Account, error) {
	if !strings.EqualFold(settings[keyUseDevStorage], "true") {
		return nil, invalid("%s must be true when present", keyUseDevStorage)
	}
	for k := range settings {
		if k != keyUseDevStorage && k != keyDevStorageProxy {
			return nil, invalid("%s=true cannot be combined with %s", keyUseDevStorage, k)
		}
	}
	scheme, host := "http", "127.0.0.1"
	if proxy, ok := settings[keyDevStorageProxy]; ok {
		u, err := url.Parse(proxy)
		if err != nil || u.Hostname() == "" || (!strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https")) {
			return nil, invalid("%s is not an absolute http or https URL", keyDevStorageProxy)
		}
		scheme, host = strings.ToLower(u.Scheme), u.Hostname()
	}
	ep := func(port int) string {
		return scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port)) + "/" + DevelopmentAccountName
	}
	return &Account{
		name: DevelopmentAccountName,
		endpoints: Endpoints{
			Blob:  ep(DevelopmentBlobPort),
			Queue: ep(DevelopmentQueuePort),
			Table: ep(DevelopmentTablePort),
		},
		cred: newCredential(credSharedKey, secretValue{key: DevelopmentAccountKey}),
	}, nil
}

func credentialFrom(settings map[string]string, name string) (*credential, error) {
	key, hasKey := settings[keyAccountKey]
	sas, hasSAS := settings[keySAS]
	switch {
	case hasKey && hasSAS:
		return nil, invalid("%s and %s cannot both be set", keyAccountKey, keySAS)
	case hasKey:
		if name == "" {
			return nil, invalid("%s is missing (required with %s)", keyAccountName, keyAccountKey)
		}
		if _, err := base64.StdEncoding.DecodeString(key); err != nil {
			return nil, invalid("%s is not valid base64", keyAccountKey)
		}
		return newCredential(credSharedKey, secretValue{key: key}), nil
	case hasSAS:
		sas = strings.TrimPrefix(sas, "?")
		if _, err := url.ParseQuery(sas); err != nil || sas == "" {
			return nil, invalid("%s is not a valid query string", keySAS)
		}
		return newCredential(credSAS, secretValue{sas: sas}), nil
	}
	return nil, invalid("%s or %s is missing (for Azure AD, use FromAccountName or FromEndpoints)", keyAccountKey, keySAS)
}

func endpointsFrom(settings map[string]string, name string) (Endpoints, error) {
	protocol := "https"
	if p, ok := settings[keyProtocol]; ok {
		if !strings.EqualFold(p, "http") && !strings.EqualFold(p, "https") {
			return Endpoints{}, invalid("%s must be http or https", keyProtocol)
		}
		protocol = strings.ToLower(p)
	}
	suffix := "core.windows.net"
	if sfx, ok := settings[keySuffix]; ok {
		sfx = strings.Trim(sfx, ".")
		if sfx == "" || strings.ContainsAny(sfx, "/?#@:\\ ") {
			return Endpoints{}, invalid("%s is not a host name suffix", keySuffix)
		}
		suffix = sfx
	}

	var e Endpoints
	for _, svc := range []struct {
		key, sub string
		dst      *string
	}{
		{keyBlobEndpoint, "blob", &e.Blob},
		{keyQueueEndpoint, "queue", &e.Queue},
		{keyTableEndpoint, "table", &e.Table},
	} {
		if raw, ok := settings[svc.key]; ok {
			v, err := normalizeEndpoint(svc.sub, raw)
			if err != nil {
				return Endpoints{}, invalid("%s is not an absolute http or https URL without query", svc.key)
			}
			*svc.dst = v
		} else if name != "" {
			*svc.dst = protocol + "://" + name + "." + svc.sub + "." + suffix
		}
	}
	if e.Blob == "" && e.Queue == "" && e.Table == "" {
		return Endpoints{}, invalid("%s or an endpoint (%s, %s, %s) is missing", keyAccountName, keyBlobEndpoint, keyQueueEndpoint, keyTableEndpoint)
	}
	return e, nil
}
