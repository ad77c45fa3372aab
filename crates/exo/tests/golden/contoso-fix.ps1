# Closes what `doorman audit` found for tenant contoso.

# Accept mail for every sender domain only from the gateway: everyone else gets 5.7.51.
New-InboundConnector -Name 'Inbound only from the gateway' -ConnectorType 'Partner' -SenderDomains '*' -RestrictDomainsToIPAddresses $true -SenderIPAddresses '80.66.20.0/28' -RequireTls $true
# WARNING: SenderIPAddresses takes IPv4 only; the gateway's IPv6 ranges (2001:db8:100::/48) cannot go in.
# Restrict by the gateway's certificate instead (-RestrictDomainsToCertificate), or have the
# gateway deliver over IPv4 only.

# Refuse anonymous mail that claims your own domains (Direct Send): 5.7.68.
Set-OrganizationConfig -RejectDirectSend $true

# This rule skips spam filtering for a forgeable sender domain: key it on the gateway instead.
Set-TransportRule -Identity 'Trust the partner' -SenderDomainIs $null -SenderIpRanges '80.66.20.0/28'
