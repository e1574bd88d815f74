package storage

import "fmt"

// DevelopmentAccountName is the account name of the local storage emulator
// (Azurite and the older Azure Storage Emulator).
const DevelopmentAccountName = "devstoreaccount1"

// DevelopmentAccountKey is the well-known key of [DevelopmentAccountName],
// published in Azurite's documentation. It is not a secret; it only works
// against an emulator.
const DevelopmentAccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

// Default emulator ports, used when expanding UseDevelopmentStorage=true.
const (
	DevelopmentBlobPort  = 10000
	DevelopmentQueuePort = 10001
	DevelopmentTablePort = 10002
)

// DevelopmentConnectionString returns a full connection string for the
// well-known development account with the given service endpoints, for
// example "http://127.0.0.1:10000/devstoreaccount1". The endpoints are used
// as given; the result can be passed to [ParseConnectionString] and to tools
// that expect explicit endpoints (Azure Storage Explorer, the C# SDK).
func DevelopmentConnectionString(blobURL, queueURL, tableURL string) string {
	return fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=%s;QueueEndpoint=%s;TableEndpoint=%s;",
		DevelopmentAccountName, DevelopmentAccountKey, blobURL, queueURL, tableURL)
}
