package storage

import (
	"errors"
	"strings"
	"testing"
)

const testKey = "a2V5LWZvci10ZXN0cy1vbmx5LW5vdC1hLXJlYWwta2V5LTAxMjM0NTY3ODk=" // base64, not a real key

func TestParseConnectionString(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Endpoints
		acct string
		auth credentialKind
	}{
		{
			name: "account key with suffix",
			in:   "DefaultEndpointsProtocol=https;AccountName=myacct;AccountKey=" + testKey + ";EndpointSuffix=core.chinacloudapi.cn",
			want: Endpoints{
				Blob:  "https://myacct.blob.core.chinacloudapi.cn",
				Queue: "https://myacct.queue.core.chinacloudapi.cn",
				Table: "https://myacct.table.core.chinacloudapi.cn",
			},
			acct: "myacct", auth: credSharedKey,
		},
		{
			name: "default suffix and protocol, odd case and spacing",
			in:   "  accountname = myacct ; ACCOUNTKEY=" + testKey + " ;;",
			want: Endpoints{
				Blob:  "https://myacct.blob.core.windows.net",
				Queue: "https://myacct.queue.core.windows.net",
				Table: "https://myacct.table.core.windows.net",
			},
			acct: "myacct", auth: credSharedKey,
		},
		{
			name: "http protocol",
			in:   "DefaultEndpointsProtocol=http;AccountName=myacct;AccountKey=" + testKey,
			want: Endpoints{
				Blob:  "http://myacct.blob.core.windows.net",
				Queue: "http://myacct.queue.core.windows.net",
				Table: "http://myacct.table.core.windows.net",
			},
			acct: "myacct", auth: credSharedKey,
		},
		{
			name: "explicit endpoints override derived ones",
			in: "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + DevelopmentAccountKey +
				";BlobEndpoint=http://127.0.0.1:20000/devstoreaccount1/;QueueEndpoint=http://127.0.0.1:20001/devstoreaccount1;TableEndpoint=http://127.0.0.1:20002/devstoreaccount1;",
			want: Endpoints{
				Blob:  "http://127.0.0.1:20000/devstoreaccount1",
				Queue: "http://127.0.0.1:20001/devstoreaccount1",
				Table: "http://127.0.0.1:20002/devstoreaccount1",
			},
			acct: "devstoreaccount1", auth: credSharedKey,
		},
		{
			name: "one explicit endpoint, rest derived",
			in:   "AccountName=myacct;AccountKey=" + testKey + ";TableEndpoint=https://tables.example.com",
			want: Endpoints{
				Blob:  "https://myacct.blob.core.windows.net",
				Queue: "https://myacct.queue.core.windows.net",
				Table: "https://tables.example.com",
			},
			acct: "myacct", auth: credSharedKey,
		},
		{
			name: "SAS with endpoints",
			in:   "BlobEndpoint=https://sasacct.blob.core.windows.net/;QueueEndpoint=https://sasacct.queue.core.windows.net/;TableEndpoint=https://sasacct.table.core.windows.net/;SharedAccessSignature=sv=2022-11-02&ss=bqt&srt=sco&sp=rwdlacup&se=2030-01-01T00:00:00Z&sig=abc%2Bdef%3D",
			want: Endpoints{
				Blob:  "https://sasacct.blob.core.windows.net",
				Queue: "https://sasacct.queue.core.windows.net",
				Table: "https://sasacct.table.core.windows.net",
			},
			acct: "sasacct", auth: credSAS,
		},
		{
			name: "SAS with leading question mark and account name",
			in:   "AccountName=sasacct;SharedAccessSignature=?sv=2022-11-02&sig=abc",
			want: Endpoints{
				Blob:  "https://sasacct.blob.core.windows.net",
				Queue: "https://sasacct.queue.core.windows.net",
				Table: "https://sasacct.table.core.windows.net",
			},
			acct: "sasacct", auth: credSAS,
		},
		{
			name: "development storage",
			in:   "UseDevelopmentStorage=true",
			want: Endpoints{
				Blob:  "http://127.0.0.1:10000/devstoreaccount1",
				Queue: "http://127.0.0.1:10001/devstoreaccount1",
				Table: "http://127.0.0.1:10002/devstoreaccount1",
			},
			acct: DevelopmentAccountName, auth: credSharedKey,
		},
		{
			name: "development storage, case and trailing semicolon",
			in:   "usedevelopmentstorage=True;",
			want: Endpoints{
				Blob:  "http://127.0.0.1:10000/devstoreaccount1",
				Queue: "http://127.0.0.1:10001/devstoreaccount1",
				Table: "http://127.0.0.1:10002/devstoreaccount1",
			},
			acct: DevelopmentAccountName, auth: credSharedKey,
		},
		{
			name: "development storage with proxy",
			in:   "UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://azurite.local:8080/ignored",
			want: Endpoints{
				Blob:  "http://azurite.local:10000/devstoreaccount1",
				Queue: "http://azurite.local:10001/devstoreaccount1",
				Table: "http://azurite.local:10002/devstoreaccount1",
			},
			acct: DevelopmentAccountName, auth: credSharedKey,
		},
		{
			name: "development storage with IPv6 proxy",
			in:   "UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://[::1]",
			want: Endpoints{
				Blob:  "http://[::1]:10000/devstoreaccount1",
				Queue: "http://[::1]:10001/devstoreaccount1",
				Table: "http://[::1]:10002/devstoreaccount1",
			},
			acct: DevelopmentAccountName, auth: credSharedKey,
		},
		{
			name: "portal string with ignored settings",
			in:   "DefaultEndpointsProtocol=https;AccountName=myacct;AccountKey=" + testKey + ";EndpointSuffix=core.windows.net;FileEndpoint=https://myacct.file.core.windows.net/",
			want: Endpoints{
				Blob:  "https://myacct.blob.core.windows.net",
				Queue: "https://myacct.queue.core.windows.net",
				Table: "https://myacct.table.core.windows.net",
			},
			acct: "myacct", auth: credSharedKey,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := ParseConnectionString(tt.in)
			if err != nil {
				t.Fatalf("ParseConnectionString: %v", err)
			}
			if got := a.Endpoints(); got != tt.want {
				t.Errorf("endpoints = %+v, want %+v", got, tt.want)
			}
			if a.Name() != tt.acct {
				t.Errorf("name = %q, want %q", a.Name(), tt.acct)
			}
			if a.cred.kind != tt.auth {
				t.Errorf("auth = %v, want %v", a.cred.kind, tt.auth)
			}
		})
	}
}

func TestParseConnectionStringDevelopmentKey(t *testing.T) {
	a, err := ParseConnectionString("UseDevelopmentStorage=true")
	if err != nil {
		t.Fatal(err)
	}
	if a.cred.secret().key != DevelopmentAccountKey {
		t.Error("development storage does not use the well-known key")
	}
}

func TestParseConnectionStringSASQuestionMarkStripped(t *testing.T) {
	a, err := ParseConnectionString("AccountName=sasacct;SharedAccessSignature=?sv=1&sig=abc")
	if err != nil {
		t.Fatal(err)
	}
	if a.cred.secret().sas != "sv=1&sig=abc" {
		t.Errorf("sas = %q", a.cred.secret().sas)
	}
}

func TestParseConnectionStringErrors(t *testing.T) {
	tests := []struct {
		name, in, mention string
	}{
		{"empty", "", "empty"},
		{"only separators", " ; ;", "empty"},
		{"segment without equals", "AccountName=myacct;garbage", "setting 2"},
		{"unknown setting", "AccountName=myacct;AcountKey=" + testKey, `unknown setting "AcountKey"`},
		{"duplicate", "AccountName=myacct;accountname=other;AccountKey=" + testKey, "AccountName is set more than once"},
		{"empty value", "AccountName=myacct;AccountKey=", "AccountKey has an empty value"},
		{"key without name", "AccountKey=" + testKey, "AccountName is missing"},
		{"no credential", "AccountName=myacct", "AccountKey or SharedAccessSignature is missing"},
		{"key and sas", "AccountName=myacct;AccountKey=" + testKey + ";SharedAccessSignature=sv=1", "cannot both be set"},
		{"bad base64 key", "AccountName=myacct;AccountKey=not*base64", "AccountKey is not valid base64"},
		{"bad account name", "AccountName=My_Acct;AccountKey=" + testKey, "AccountName is not a valid account name"},
		{"bad protocol", "DefaultEndpointsProtocol=ftp;AccountName=myacct;AccountKey=" + testKey, "DefaultEndpointsProtocol"},
		{"bad suffix", "AccountName=myacct;AccountKey=" + testKey + ";EndpointSuffix=a/b", "EndpointSuffix"},
		{"relative endpoint", "SharedAccessSignature=sv=1;QueueEndpoint=/devstoreaccount1", "QueueEndpoint"},
		{"endpoint with query", "SharedAccessSignature=sv=1;BlobEndpoint=https://x.blob.core.windows.net/?sig=1", "BlobEndpoint"},
		{"sas without endpoints", "SharedAccessSignature=sv=1&sig=x", "endpoint"},
		{"bad sas", "SharedAccessSignature=%zz;BlobEndpoint=https://x.blob.core.windows.net", "SharedAccessSignature is not a valid query string"},
		{"dev storage false", "UseDevelopmentStorage=false", "UseDevelopmentStorage must be true"},
		{"dev storage with key", "UseDevelopmentStorage=true;AccountName=myacct", "cannot be combined with AccountName"},
		{"proxy without dev storage", "DevelopmentStorageProxyUri=http://h;AccountName=myacct;AccountKey=" + testKey, "requires UseDevelopmentStorage=true"},
		{"bad proxy", "UseDevelopmentStorage=true;DevelopmentStorageProxyUri=h:1", "DevelopmentStorageProxyUri"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConnectionString(tt.in)
			if err == nil {
				t.Fatal("ParseConnectionString succeeded, want error")
			}
			if !errors.Is(err, ErrInvalidConnectionString) {
				t.Errorf("error %q does not wrap ErrInvalidConnectionString", err)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not mention %q", err, tt.mention)
			}
		})
	}
}

func TestDevelopmentConnectionStringRoundTrip(t *testing.T) {
	cs := DevelopmentConnectionString("http://127.0.0.1:1/devstoreaccount1", "http://127.0.0.1:2/devstoreaccount1", "http://127.0.0.1:3/devstoreaccount1")
	a, err := ParseConnectionString(cs)
	if err != nil {
		t.Fatal(err)
	}
	want := Endpoints{
		Blob:  "http://127.0.0.1:1/devstoreaccount1",
		Queue: "http://127.0.0.1:2/devstoreaccount1",
		Table: "http://127.0.0.1:3/devstoreaccount1",
	}
	if a.Endpoints() != want || a.Name() != DevelopmentAccountName || a.cred.secret().key != DevelopmentAccountKey {
		t.Errorf("round trip gave %v", a)
	}
}
