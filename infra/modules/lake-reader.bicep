// Storage Blob Data Reader for one principal on one container of the lake's storage account.
// A module, so that main.bicep can grant it in the lake's own resource group.

targetScope = 'resourceGroup'

@description('The lake\'s storage account (exists already).')
param storageAccountName string
@description('The container the Dataverse / Synapse Link export writes to.')
param containerName string
@description('Object (principal) id of the identity that reads the lake.')
param principalId string
@description('Role definition id: Storage Blob Data Reader.')
param roleDefinitionId string

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: account
  name: 'default'
}

resource container 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobs
  name: containerName
}

resource reader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(container.id, principalId, roleDefinitionId)
  scope: container
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
