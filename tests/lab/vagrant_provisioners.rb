# Prints, as JSON, what Vagrant itself makes of the Vagrantfile: for each provider it names, each
# machine's provisioners in the order `vagrant provision` runs them, and whether a plain
# `vagrant up` brings machines up in parallel. Run from the project's root with LAB_PREPARED=1.
require "json"
require "vagrant"

ARGV.replace(%w[up])  # the Vagrantfile reads the command it runs under
env = Vagrant::Environment.new(cwd: Dir.pwd, ui_class: Vagrant::UI::Silent)
providers = env.vagrantfile.machine_config(env.machine_names.first, nil, env.boxes)[:config].vm.__providers

result = providers.to_h do |provider|
  machines = env.machine_names.map do |name|
    # false: read the configuration without asking whether the provider runs on this machine.
    config = env.vagrantfile.machine_config(name, provider, env.boxes, nil, false)[:config]
    [name, config.vm.provisioners.map { |p| {"name" => p.name.to_s, "type" => p.type.to_s} }]
  end
  [provider, machines.to_h]
end
puts JSON.generate({"provisioners" => result, "parallel_up" => ENV["VAGRANT_NO_PARALLEL"].nil?})
