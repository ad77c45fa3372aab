# Exports what `doorman audit --exo` and `doorman import exo` read, one JSON file per cmdlet,
# into a folder. Run in Exchange Online PowerShell (Connect-ExchangeOnline) with a role that
# may read the configuration.
#
#   ./export-exo.ps1 -Path ./contoso
#
# Each file holds a JSON array, empty when the cmdlet returned nothing. The files of an earlier
# run are removed first, and a cmdlet that fails stops the script: a folder never looks
# complete when it is not (doorman reports a missing file as a gap).
param([Parameter(Mandatory = $true)][string]$Path)

$ErrorActionPreference = 'Stop'
New-Item -ItemType Directory -Force -Path $Path | Out-Null
$names = 'InboundConnector', 'HostedConnectionFilterPolicy', 'TransportRule', 'AcceptedDomain', 'OrganizationConfig'
foreach ($name in $names) {
    Remove-Item -Force -ErrorAction SilentlyContinue (Join-Path $Path "$name.json")
}

function Export-Cmdlet([string]$Name, [scriptblock]$Get) {
    $file = Join-Path $Path "$Name.json"
    ConvertTo-Json -InputObject @(& $Get) -Depth 6 | Out-File -Encoding utf8 $file
}

Export-Cmdlet 'InboundConnector'             { Get-InboundConnector }
Export-Cmdlet 'HostedConnectionFilterPolicy' { Get-HostedConnectionFilterPolicy }
Export-Cmdlet 'TransportRule'                { Get-TransportRule }
Export-Cmdlet 'AcceptedDomain'               { Get-AcceptedDomain }
Export-Cmdlet 'OrganizationConfig'           { Get-OrganizationConfig }

Write-Host "Exported to $Path. Next: doorman audit --exo $Path --mx <your MX host>"
