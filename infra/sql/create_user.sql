:on error exit
-- turbodata's database user: the Function App's user-assigned managed identity, signing in
-- with an Entra token (no password), with the least rights a load needs. docs/sql-user.md
-- explains the choice.
--
-- What it gets: a schema of its own (it creates, alters, fills and empties its tables and
-- turbodata's _turbodata_* ledger there, its default schema) and the database-level
-- CREATE TABLE permission, which creates tables only in schemas the user may alter: this one.
-- Nothing on dbo or any other schema, no role membership. Landing tables are #temp / ##temp
-- tables in tempdb, which need no permission.
--
-- Run it once per database as the server's Microsoft Entra admin (or a user with ALTER ANY
-- USER and CREATE SCHEMA), connected to the target database (not master), with sqlcmd:
--
--   sqlcmd -S myserver.database.windows.net -d dataverse \
--     --authentication-method ActiveDirectoryDefault -b \
--     -v IdentityName="turbodata-id-abc123" SchemaName="dataverse" \
--     -i infra/sql/create_user.sql
--
-- IdentityName: the managed identity's name (main.bicep output identityName).
-- SchemaName:   the schema turbodata loads into; a new one, or one this identity owns already.
-- It can run again: an existing user and its own schema are kept; a schema that belongs to
-- someone else stops the script, because taking it over would hand that principal's tables
-- to turbodata.
SET NOCOUNT ON;
SET XACT_ABORT ON;
GO

IF CHARINDEX(N']', N'$(IdentityName)') > 0 OR CHARINDEX(N']', N'$(SchemaName)') > 0
    THROW 50000, N'IdentityName and SchemaName must not contain ]', 1;
IF N'$(SchemaName)' IN (N'dbo', N'sys', N'guest', N'INFORMATION_SCHEMA')
    THROW 50000, N'SchemaName must be a schema of its own, not a built-in one', 1;
GO

IF DATABASE_PRINCIPAL_ID(N'$(IdentityName)') IS NULL
    CREATE USER [$(IdentityName)] FROM EXTERNAL PROVIDER WITH DEFAULT_SCHEMA = [$(SchemaName)];
ELSE
    ALTER USER [$(IdentityName)] WITH DEFAULT_SCHEMA = [$(SchemaName)];
GO

IF SCHEMA_ID(N'$(SchemaName)') IS NULL
    EXEC (N'CREATE SCHEMA [$(SchemaName)] AUTHORIZATION [$(IdentityName)]'); -- alone in its batch
ELSE IF (SELECT principal_id FROM sys.schemas WHERE name = N'$(SchemaName)')
        <> DATABASE_PRINCIPAL_ID(N'$(IdentityName)')
    THROW 50001, N'schema $(SchemaName) exists and belongs to another principal: choose a new SchemaName (or transfer it deliberately with ALTER AUTHORIZATION)', 1;
GO

GRANT CREATE TABLE TO [$(IdentityName)];
GO

-- What the user holds now: expect CREATE TABLE and CONNECT, the schema, and no role.
SELECT p.permission_name, p.state_desc
FROM sys.database_permissions AS p
WHERE p.grantee_principal_id = DATABASE_PRINCIPAL_ID(N'$(IdentityName)') AND p.class = 0;
SELECT s.name AS owned_schema FROM sys.schemas AS s
WHERE s.principal_id = DATABASE_PRINCIPAL_ID(N'$(IdentityName)');
SELECT r.name AS role_membership_to_review
FROM sys.database_role_members AS m JOIN sys.database_principals AS r
    ON r.principal_id = m.role_principal_id
WHERE m.member_principal_id = DATABASE_PRINCIPAL_ID(N'$(IdentityName)');
GO
