//! MedMij scopes: `<provider>~<gegevensdienstId>` grants one data service of one provider; a
//! bare `<provider>` grants all its collect services (AS 2.x, RFC0039). Several are
//! space-separated.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scopes(Vec<(String, Option<String>)>);

impl Scopes {
    pub fn parse(text: &str) -> Scopes {
        Scopes(
            text.split_whitespace()
                .map(|item| match item.split_once('~') {
                    Some((provider, id)) => (provider.to_owned(), Some(id.to_owned())),
                    None => (item.to_owned(), None),
                })
                .collect(),
        )
    }

    /// Whether these scopes grant the data service `data_service_id` of `provider`.
    pub fn allow(&self, provider: &str, data_service_id: &str) -> bool {
        self.0.iter().any(|(p, id)| p == provider && id.as_deref().is_none_or(|id| id == data_service_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_and_data_service() {
        let s = Scopes::parse("umcx~4  huisarts~49");
        assert!(s.allow("umcx", "4"));
        assert!(s.allow("huisarts", "49"));
        assert!(!s.allow("umcx", "49"), "a service of the provider that was not granted");
        assert!(!s.allow("huisartsX", "49"));
        assert!(Scopes::parse("huisarts").allow("huisarts", "51"), "a bare provider grants all its services");
        assert!(!Scopes::parse("").allow("huisarts", "49"));
        assert!(!Scopes::parse("~49").allow("huisarts", "49"));
    }
}
