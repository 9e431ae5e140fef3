//! CMS (PKCS #7) detached signatures for `imgverify`.
