package storage_test

import (
	"fmt"
	"log"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/azdurable/azdurable/storage"
)

// UseDevelopmentStorage=true, which the Go SDK rejects, is expanded to the
// Azurite endpoints; printing the account never shows the key.
func ExampleParseConnectionString() {
	acct, err := storage.ParseConnectionString("UseDevelopmentStorage=true")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(acct.Endpoints().Queue)
	fmt.Println(acct)

	_, err = storage.ParseConnectionString("AccountName=myaccount;AccountKey=not-base64!")
	fmt.Println(err)
	// Output:
	// http://127.0.0.1:10001/devstoreaccount1
	// storage account devstoreaccount1 (shared key; blob http://127.0.0.1:10000/devstoreaccount1, queue http://127.0.0.1:10001/devstoreaccount1, table http://127.0.0.1:10002/devstoreaccount1)
	// storage: invalid connection string: AccountKey is not valid base64
}

// Production code usually authenticates with Azure AD (managed identity,
// workload identity, Azure CLI login) instead of a key.
func ExampleFromAccountName() {
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		log.Fatal(err)
	}
	acct, err := storage.FromAccountName("myaccount", cred)
	if err != nil {
		log.Fatal(err)
	}
	queues, err := acct.QueueService(nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(queues.URL())
}
