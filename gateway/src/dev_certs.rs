//! Certificates for `strata dev --tls`: a CA made for the dev directory, and for each
//! site a certificate for `localhost` and `127.0.0.1` signed by it (used on the S3 port,
//! on the replication port and as the site's client certificate). For trying TLS out;
//! the CA's key stays in the dev directory.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
use std::path::Path;

pub type CertError = Box<dyn std::error::Error + Send + Sync>;

/// Makes `DIR/ca.pem` and `DIR/<site>/tls/{cert,key}.pem` for every site, unless the CA
/// exists already (then every site must have its certificate).
pub fn ensure(dir: &Path, sites: &[String]) -> Result<(), CertError> {
    let ca_path = dir.join("ca.pem");
    if ca_path.exists() {
        for s in sites {
            if !dir.join(s).join("tls").join("cert.pem").exists() {
                return Err(format!(
                    "{} has a CA but no certificate for {s}: remove {} to start over",
                    dir.display(),
                    dir.display()
                )
                .into());
            }
        }
        return Ok(());
    }
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "Strata dev CA");
    let ca_cert = ca.self_signed(&ca_key)?;
    for s in sites {
        let key = KeyPair::generate()?;
        let mut p = CertificateParams::new(vec!["localhost".to_owned()])?;
        p.subject_alt_names.push(SanType::IpAddress("127.0.0.1".parse()?));
        p.distinguished_name.push(DnType::CommonName, s.as_str());
        let cert = p.signed_by(&key, &ca_cert, &ca_key)?;
        let tls = dir.join(s).join("tls");
        std::fs::create_dir_all(&tls)?;
        std::fs::write(tls.join("cert.pem"), cert.pem())?;
        std::fs::write(tls.join("key.pem"), key.serialize_pem())?;
    }
    std::fs::write(dir.join("ca-key.pem"), ca_key.serialize_pem())?;
    std::fs::write(&ca_path, ca_cert.pem())?;
    Ok(())
}

/// The config lines that turn TLS on for a dev site (paths relative to its config).
pub fn config(s3: bool) -> &'static str {
    if s3 {
        "tls_cert = \"tls/cert.pem\"\ntls_key = \"tls/key.pem\"\n"
    } else {
        "tls_cert = \"tls/cert.pem\"\ntls_key = \"tls/key.pem\"\ntls_ca = \"../ca.pem\"\ntls_client_auth = true\n"
    }
}
