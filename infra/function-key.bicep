// Stores the Function App's default host key in Key Vault, under the secret name Data Factory's
// linked service (adf-linked-service.json) reads. Deployed after the code (the host creates
// its keys when it first starts), by .github/workflows/deploy.yml:
//
//   az deployment group create --resource-group RG --template-file infra/function-key.bicep \
//     --parameters functionAppName=... keyVaultName=...
//
// The key goes from the Functions control plane to Key Vault inside Azure Resource Manager:
// it never passes through the deploying machine or its logs.

targetScope = 'resourceGroup'

@description('The Function App (main.bicep output functionAppName).')
param functionAppName string
@description('The Key Vault (main.bicep output keyVaultName).')
param keyVaultName string
@description('Secret name: must match secretName in adf-linked-service.json.')
param secretName string = 'turbodata-function-key'

resource functionApp 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource functionKey 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: secretName
  properties: {
    value: listKeys('${functionApp.id}/host/default', '2024-04-01').functionKeys.default
    contentType: 'Azure Functions host key, used by Data Factory'
  }
}
