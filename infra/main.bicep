// turbodata's Azure footprint, deployed into one resource group:
//
//   az deployment group create --resource-group RG --template-file infra/main.bicep \
//     --parameters lakeStorageAccountName=... lakeContainerName=... sqlServer=... sqlDatabase=...
//
// - a user-assigned managed identity: the only identity the app runs as (no secret anywhere)
// - Function App on the Flex Consumption plan (Python), its own storage account (keyless)
// - Key Vault with RBAC authorization (no access policies)
// - Application Insights on a Log Analytics workspace
// - Data Factory with the pipeline(s) of infra/adf-pipeline*.json and their linked services
// - least-privilege role assignments (table `roles` below; docs/security.md explains each)
//
// Not created here: the lake's storage account (Dataverse / Synapse Link owns it; the identity
// gets Storage Blob Data Reader on its container through modules/lake-reader.bicep) and the
// SQL database (its contained user comes from infra/sql/create_user.sql). After the code is
// deployed, infra/function-key.bicep stores the host key Data Factory calls the app with.
// Every name is a parameter; the defaults derive unique names from `namePrefix`.

targetScope = 'resourceGroup'

@description('Azure region of every resource (Flex Consumption must be offered there).')
param location string = resourceGroup().location

@description('Prefix of the default resource names: 2 to 10 lowercase letters or digits.')
@minLength(2)
@maxLength(10)
param namePrefix string = 'turbodata'

@description('Tags put on every resource.')
param tags object = { app: 'turbodata' }

@description('Suffix that makes the default names globally unique (lowercase letters, digits).')
param suffix string = uniqueString(resourceGroup().id, namePrefix)

@description('User-assigned managed identity the Function App runs as.')
param identityName string = '${namePrefix}-id-${suffix}'
@description('Function App name (also its host name, <name>.azurewebsites.net).')
param functionAppName string = '${namePrefix}-func-${suffix}'
@description('Flex Consumption plan name.')
param planName string = '${namePrefix}-plan-${suffix}'
@description('Storage account of the Functions host and Durable Functions state (3-24 chars).')
@maxLength(24)
param hostStorageAccountName string = take('${namePrefix}st${suffix}', 24)
@description('Key Vault name (3-24 chars).')
@maxLength(24)
param keyVaultName string = take('${namePrefix}-kv-${suffix}', 24)
@description('Log Analytics workspace name.')
param logAnalyticsName string = '${namePrefix}-log-${suffix}'
@description('Application Insights name.')
param appInsightsName string = '${namePrefix}-appi-${suffix}'
@description('Data Factory name.')
param dataFactoryName string = '${namePrefix}-adf-${suffix}'

@description('The lake: storage account of the Dataverse / Synapse Link export (exists already).')
param lakeStorageAccountName string
@description('The lake: its container, e.g. dataverse-myorg-unq1234.')
param lakeContainerName string
@description('The lake: resource group of its storage account (default: this one).')
param lakeResourceGroupName string = resourceGroup().name
@description('The lake: folder inside the container, empty for its root.')
param lakePath string = ''

@description('Azure SQL server host, e.g. myserver.database.windows.net (TURBODATA_SQL_SERVER).')
param sqlServer string
@description('Database on sqlServer (TURBODATA_SQL_DATABASE).')
param sqlDatabase string

@description('NCRONTAB schedule of the timer-triggered migration (TURBODATA_SCHEDULE), UTC.')
param schedule string = '0 0 2 * * *'
@description('Comma-separated tables to load when a request names none; empty: every table.')
param tables string = ''
@description('Table activities a Durable run has running at once (TURBODATA_PARALLEL_TABLES); bounded by what the database can write.')
param parallelTables int = 4
@description('Attempts per table in a Durable run, the first retry after 60 s (TURBODATA_TABLE_ATTEMPTS).')
param tableAttempts int = 3

@description('Python version of the Function App (3.11 or later: pyproject.toml).')
@allowed(['3.11', '3.12'])
param pythonVersion string = '3.11'
@description('Memory of one Flex Consumption instance, MB (cost: docs/deploy.md).')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048
@description('Most instances the app scales out to (a migration holds a lease: few suffice).')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 10

@description('Refuse Application Insights instrumentation-key ingestion (Entra only). Turn on once the app\'s OpenTelemetry exporter authenticates with the managed identity.')
param appInsightsEntraOnly bool = false
@description('Days Log Analytics keeps logs.')
param logRetentionDays int = 30

// Built-in role definition ids (the same GUID in every tenant and cloud).
var roles = {
  storageBlobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

var deploymentContainerName = 'app-package'
var lakeUrl = 'abfs://${lakeContainerName}@${lakeStorageAccountName}.dfs.${environment().suffixes.storage}/${lakePath}'

// ---------------------------------------------------------------------------- identity

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: identityName
  location: location
  tags: tags
}

// ---------------------------------------------------------------------------- monitoring

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: logRetentionDays
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: appInsightsEntraOnly
  }
}

// ---------------------------------------------------------------------------- host storage

resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: hostStorageAccountName
  location: location
  tags: tags
  sku: { name: 'Standard_LRS' }
  kind: 'StorageV2'
  properties: {
    allowSharedKeyAccess: false // the host signs in with the identity: no account key in use
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
  }
}

resource hostBlobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: hostStorage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: hostBlobs
  name: deploymentContainerName
}

// ---------------------------------------------------------------------------- Key Vault

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: keyVaultName
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true // roles, not access policies
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
  }
}

// ---------------------------------------------------------------------------- Function App

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true } // Linux
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: functionAppName
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identity.id}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: { minTlsVersion: '1.2' }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${hostStorage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: { name: 'python', version: pythonVersion }
    }
  }
  dependsOn: [deploymentContainer]
}

// App settings: the TURBODATA_* settings turbodata/settings.py reads that this deployment
// sets; the optional ones are listed in docs/deploy.md (tests/test_ops_infra.py checks both).
// None is a secret: identities sign in with tokens.
resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: {
    AzureWebJobsStorage__accountName: hostStorage.name
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identity.properties.clientId
    APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.properties.clientId};Authorization=AAD'
    PYTHON_ENABLE_OPENTELEMETRY: 'true' // the invocation's span is the parent of turbodata's run span
    AZURE_CLIENT_ID: identity.properties.clientId // DefaultAzureCredential: this identity
    TURBODATA_LAKE: lakeUrl
    TURBODATA_TABLES: tables
    TURBODATA_SCHEDULE: schedule
    TURBODATA_PARALLEL_TABLES: string(parallelTables)
    TURBODATA_TABLE_ATTEMPTS: string(tableAttempts)
    TURBODATA_KEY_VAULT_URL: vault.properties.vaultUri
    TURBODATA_SQL_SERVER: sqlServer
    TURBODATA_SQL_DATABASE: sqlDatabase
    TURBODATA_STORAGE_ACCOUNT: lakeStorageAccountName
  }
  dependsOn: [hostBlobOwner, hostQueueContributor, hostTableContributor, vaultSecretsUser]
}

// ---------------------------------------------------------------------------- Data Factory

resource factory 'Microsoft.DataFactory/factories@2018-06-01' = {
  name: dataFactoryName
  location: location
  tags: tags
  identity: { type: 'SystemAssigned' } // reads the function key from Key Vault
  properties: {}
}

resource keyVaultLinkedService 'Microsoft.DataFactory/factories/linkedservices@2018-06-01' = {
  parent: factory
  name: 'TurbodataKeyVault' // referenced by adf-linked-service.json
  properties: {
    type: 'AzureKeyVault'
    typeProperties: { baseUrl: vault.properties.vaultUri }
  }
}

var functionLinkedService = loadJsonContent('adf-linked-service.json')

resource functionLinked 'Microsoft.DataFactory/factories/linkedservices@2018-06-01' = {
  parent: factory
  name: functionLinkedService.name
  properties: union(functionLinkedService.properties, {
    typeProperties: union(functionLinkedService.properties.typeProperties, {
      functionAppUrl: 'https://${functionApp.properties.defaultHostName}'
    })
  })
  dependsOn: [keyVaultLinkedService]
}

var migratePipeline = loadJsonContent('adf-pipeline.json')

resource pipeline 'Microsoft.DataFactory/factories/pipelines@2018-06-01' = {
  parent: factory
  name: migratePipeline.name
  properties: migratePipeline.properties
  dependsOn: [functionLinked]
}

// The variant that fans out itself: GET /api/tables, then a ForEach of POST /api/migrate per table.
var foreachPipeline = loadJsonContent('adf-pipeline-foreach.json')

resource perTablePipeline 'Microsoft.DataFactory/factories/pipelines@2018-06-01' = {
  parent: factory
  name: foreachPipeline.name
  properties: foreachPipeline.properties
  dependsOn: [functionLinked]
}

// ---------------------------------------------------------------------------- roles

// The host and Durable Functions keep blobs (leases, the deployment package), queues and
// tables in the host storage: the three data roles Functions documents for an identity-based
// AzureWebJobsStorage, on that account only.
resource hostBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStorage.id, identity.id, roles.storageBlobDataOwner)
  scope: hostStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource hostQueueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStorage.id, identity.id, roles.storageQueueDataContributor)
  scope: hostStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource hostTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStorage.id, identity.id, roles.storageTableDataContributor)
  scope: hostStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// The app reads secrets (never writes them); on this vault only.
resource vaultSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identity.id, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Data Factory reads the function key secret.
resource factorySecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, factory.id, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: factory.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// Telemetry signed in with the identity (APPLICATIONINSIGHTS_AUTHENTICATION_STRING).
resource telemetryPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, identity.id, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Read-only on the lake's container (not the account), wherever the lake lives.
module lakeReader 'modules/lake-reader.bicep' = {
  name: 'turbodata-lake-reader'
  scope: resourceGroup(lakeResourceGroupName)
  params: {
    storageAccountName: lakeStorageAccountName
    containerName: lakeContainerName
    principalId: identity.properties.principalId
    roleDefinitionId: roles.storageBlobDataReader
  }
}

// ---------------------------------------------------------------------------- outputs

output functionAppName string = functionApp.name
output functionAppUrl string = 'https://${functionApp.properties.defaultHostName}'
output identityName string = identity.name // the SQL user: infra/sql/create_user.sql
output identityClientId string = identity.properties.clientId
output keyVaultName string = vault.name
output dataFactoryName string = factory.name
output lakeUrl string = lakeUrl
