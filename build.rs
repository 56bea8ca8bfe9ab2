//! Build-time facts for the module: nginx feature and version cfgs, the module version
//! string, and the nginx build directory the module was compiled against.

fn main() {
    println!("cargo::rerun-if-env-changed=DEP_NGINX_FEATURES_CHECK");
    println!(
        "cargo::rustc-check-cfg=cfg(ngx_feature, values({}))",
        std::env::var("DEP_NGINX_FEATURES_CHECK").unwrap_or_else(|_| "any()".to_string())
    );
    println!("cargo::rerun-if-env-changed=DEP_NGINX_FEATURES");
    if let Ok(features) = std::env::var("DEP_NGINX_FEATURES") {
        for feature in features.split(',').map(str::trim) {
            println!("cargo::rustc-cfg=ngx_feature=\"{feature}\"");
        }
    }

    // `ngx_table_elt_t::next` exists since 1.23.0; the cookie list changed shape then too.
    println!("cargo::rustc-check-cfg=cfg(nginx1_23)");
    println!("cargo::rerun-if-env-changed=DEP_NGINX_VERSION_NUMBER");
    if let Ok(version) = std::env::var("DEP_NGINX_VERSION_NUMBER") {
        match version.parse::<u64>() {
            Ok(number) if number >= 1_023_000 => println!("cargo::rustc-cfg=nginx1_23"),
            Ok(_) => {}
            Err(_) => println!("cargo::warning=unparsable DEP_NGINX_VERSION_NUMBER {version}"),
        }
    }

    println!("cargo::rerun-if-env-changed=DEP_NGINX_BUILD_DIR");
    if let Ok(build_dir) = std::env::var("DEP_NGINX_BUILD_DIR") {
        println!("cargo::rustc-env=AUTHENTIK_NGINX_BUILD_DIR={build_dir}");
        println!("cargo::warning=nginx build dir: {build_dir}");
    }
}
