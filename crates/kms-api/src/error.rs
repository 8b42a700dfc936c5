//! The one place where domain errors become AWS exceptions: the exception
//! name (`__type`), the HTTP status and the message the client sees.

use http::StatusCode;
use kms_core::Error;

/// An AWS error as it goes on the wire.
pub struct AwsError {
    pub status: StatusCode,
    pub type_name: &'static str,
    pub message: Option<String>,
}

pub fn to_aws(e: &Error) -> AwsError {
    use Error::*;
    let bad = StatusCode::BAD_REQUEST;
    let (status, type_name) = match e {
        UnknownOperation => (bad, "UnknownOperationException"),
        Serialization(_) => (bad, "SerializationException"),
        Validation(_) => (bad, "ValidationException"),
        RequestTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLargeException"),
        MissingAuthenticationToken => (StatusCode::FORBIDDEN, "MissingAuthenticationTokenException"),
        IncompleteSignature(_) => (bad, "IncompleteSignatureException"),
        UnrecognizedClient => (bad, "UnrecognizedClientException"),
        ExpiredToken => (bad, "ExpiredTokenException"),
        InvalidSignature(_) => (bad, "InvalidSignatureException"),
        AccessDenied(_) => (bad, "AccessDeniedException"),
        NotFound(_) => (bad, "NotFoundException"),
        InvalidArn(_) => (bad, "InvalidArnException"),
        Disabled(_) => (bad, "DisabledException"),
        InvalidState(_) => (bad, "KMSInvalidStateException"),
        InvalidCiphertext => (bad, "InvalidCiphertextException"),
        IncorrectKey(_) => (bad, "IncorrectKeyException"),
        KmsInvalidSignature => (bad, "KMSInvalidSignatureException"),
        KmsInvalidMac => (bad, "KMSInvalidMacException"),
        InvalidKeyUsage(_) => (bad, "InvalidKeyUsageException"),
        InvalidMarker(_) => (bad, "InvalidMarkerException"),
        // 412 in the API reference; AWS answers 400 (recorded April 2025).
        DryRunOperation => (bad, "DryRunOperationException"),
        UnsupportedOperation(_) => (bad, "UnsupportedOperationException"),
        MalformedPolicyDocument(_) => (bad, "MalformedPolicyDocumentException"),
        LimitExceeded(_) => (bad, "LimitExceededException"),
        Tag(_) => (bad, "TagException"),
        AlreadyExists(_) => (bad, "AlreadyExistsException"),
        InvalidAliasName(_) => (bad, "InvalidAliasNameException"),
        CustomKeyStoreNotFound(_) => (bad, "CustomKeyStoreNotFoundException"),
        CustomKeyStoreNameInUse(_) => (bad, "CustomKeyStoreNameInUseException"),
        CustomKeyStoreInvalidState(_) => (bad, "CustomKeyStoreInvalidStateException"),
        CustomKeyStoreHasCmks(_) => (bad, "CustomKeyStoreHasCMKsException"),
        CloudHsmClusterNotFound(_) => (bad, "CloudHsmClusterNotFoundException"),
        CloudHsmClusterInUse(_) => (bad, "CloudHsmClusterInUseException"),
        CloudHsmClusterNotActive(_) => (bad, "CloudHsmClusterNotActiveException"),
        CloudHsmClusterNotRelated(_) => (bad, "CloudHsmClusterNotRelatedException"),
        IncorrectTrustAnchor(_) => (bad, "IncorrectTrustAnchorException"),
        XksKeyAlreadyInUse(_) => (bad, "XksKeyAlreadyInUseException"),
        XksKeyInvalidConfiguration(_) => (bad, "XksKeyInvalidConfigurationException"),
        XksKeyNotFound(_) => (bad, "XksKeyNotFoundException"),
        XksProxyIncorrectAuthenticationCredential(_) => (bad, "XksProxyIncorrectAuthenticationCredentialException"),
        XksProxyInvalidConfiguration(_) => (bad, "XksProxyInvalidConfigurationException"),
        XksProxyInvalidResponse(_) => (bad, "XksProxyInvalidResponseException"),
        XksProxyUriInUse(_) => (bad, "XksProxyUriInUseException"),
        XksProxyUriEndpointInUse(_) => (bad, "XksProxyUriEndpointInUseException"),
        XksProxyUriUnreachable(_) => (bad, "XksProxyUriUnreachableException"),
        XksProxyVpcEndpointServiceInUse(_) => (bad, "XksProxyVpcEndpointServiceInUseException"),
        XksProxyVpcEndpointServiceNotFound(_) => (bad, "XksProxyVpcEndpointServiceNotFoundException"),
        NotAuthorized(_) => (bad, "NotAuthorizedException"),
        InvalidGrantToken(_) => (bad, "InvalidGrantTokenException"),
        InvalidGrantId(_) => (bad, "InvalidGrantIdException"),
        Conflict(_) => (bad, "ConflictException"),
        IncorrectKeyMaterial(_) => (bad, "IncorrectKeyMaterialException"),
        ExpiredImportToken(_) => (bad, "ExpiredImportTokenException"),
        InvalidImportToken(_) => (bad, "InvalidImportTokenException"),
        Throttling => (bad, "ThrottlingException"),
        DependencyTimeout(_) => (StatusCode::SERVICE_UNAVAILABLE, "DependencyTimeoutException"),
        KeyUnavailable(_) => (StatusCode::INTERNAL_SERVER_ERROR, "KeyUnavailableException"),
        PeerUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "DependencyTimeoutException"),
        StaleRecord(_) | Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "KMSInternalException"),
    };
    let message = match e {
        UnknownOperation | InvalidCiphertext | KmsInvalidSignature | KmsInvalidMac => None,
        // A body that is not JSON: AWS sends no message.
        Serialization(m) | UnsupportedOperation(m) if m.is_empty() => None,
        Internal(_) => Some("An internal error occurred. Contact your administrator with the request id.".into()),
        other => Some(other.to_string()),
    };
    AwsError { status, type_name, message }
}

/// The STS (query protocol) form of an error: code, HTTP status, sender fault.
pub fn to_sts(e: &Error) -> (&'static str, StatusCode, bool) {
    let aws = to_aws(e);
    let code = match e {
        Error::UnrecognizedClient => "InvalidClientTokenId",
        Error::InvalidSignature(_) => "SignatureDoesNotMatch",
        Error::ExpiredToken => "ExpiredToken",
        Error::AccessDenied(_) => "AccessDenied",
        Error::Validation(_) | Error::Serialization(_) => "ValidationError",
        Error::MissingAuthenticationToken => "MissingAuthenticationToken",
        Error::IncompleteSignature(_) => "IncompleteSignature",
        Error::UnknownOperation => "InvalidAction",
        Error::Internal(_) => "InternalFailure",
        Error::Throttling => "Throttling",
        _ => aws.type_name,
    };
    let status = match e {
        Error::UnrecognizedClient | Error::InvalidSignature(_) | Error::AccessDenied(_) => StatusCode::FORBIDDEN,
        Error::MissingAuthenticationToken => StatusCode::FORBIDDEN,
        _ => aws.status,
    };
    (code, status, status.is_client_error())
}
