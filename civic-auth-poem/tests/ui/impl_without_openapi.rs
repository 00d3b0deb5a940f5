use civic_auth_poem::civic_auth_required;

struct Api;

#[civic_auth_required]
impl Api {
    async fn hello(&self) -> &'static str {
        "hi"
    }
}

fn main() {}
