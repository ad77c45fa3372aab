# Exports what `doorman audit --exo` and `doorman import exo` read, one JSON file per cmdlet,
# into a folder named after the tenant. Run in Exchange Online PowerShell
# (Connect-ExchangeOnline) with a role that may read the configuration.
#
#   ./export-exo.ps1 -Path ./contoso
param([Parameter(Mandatory = $true)][string]$Path)

$ErrorActionPreference = "Stop"
New-Item -ItemType Directory -Force -Path $Path | Out-Null

Get-InboundConnector               | ConvertTo-Json -Depth 6 | Out-File -Encoding utf8 (Join-Path $Path "InboundConnector.json")
Get-HostedConnectionFilterPolicy   | ConvertTo-Json -Depth 6 | Out-File -Encoding utf8 (Join-Path $Path "HostedConnectionFilterPolicy.json")
Get-TransportRule                  | ConvertTo-Json -Depth 6 | Out-File -Encoding utf8 (Join-Path $Path "TransportRule.json")
Get-AcceptedDomain                 | ConvertTo-Json -Depth 6 | Out-File -Encoding utf8 (Join-Path $Path "AcceptedDomain.json")
Get-OrganizationConfig             | ConvertTo-Json -Depth 6 | Out-File -Encoding utf8 (Join-Path $Path "OrganizationConfig.json")

Write-Host "Exported to $Path. Next: doorman audit --exo $Path --mx <your MX host>"
